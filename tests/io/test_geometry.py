"""Geometry loading: vertex ids kept exactly, colours kept, bad input refused with a fix."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from omniseg3d_mesh.io.geometry import (
    load_geometry,
    load_scene,
    load_vertex_labels,
    save_ply,
    save_vertex_labels,
    triangulate_polygons,
)
from tests.helpers.formats import (
    read_positions_minimal,
    write_glb,
    write_obj,
    write_off,
    write_ply_ascii,
    write_ply_binary,
)


def _tricky_mesh(seed: int = 0):
    """A mesh whose vertex order a careless loader would change.

    Duplicate positions (vertex 7 == vertex 2), an unreferenced vertex (id 9), faces
    that reference vertices out of order.
    """
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(10, 3)).round(4)
    v[7] = v[2]
    faces = np.array([[8, 1, 0], [2, 3, 4], [7, 5, 6], [4, 3, 1], [6, 8, 0]])
    colors = rng.integers(0, 256, size=(10, 3)).astype(np.uint8)
    return v, faces, colors


WRITERS = {
    "ply_ascii": lambda p, v, f, c: write_ply_ascii(p, v, f, c),
    "ply_binary": lambda p, v, f, c: write_ply_binary(p, v, f, c),
    "ply_binary_be": lambda p, v, f, c: write_ply_binary(p, v, f, c, big_endian=True, extra_face_prop=True),
    "obj": lambda p, v, f, c: write_obj(p, v, f, c),
    "off": lambda p, v, f, c: write_off(p, v, f, c),
}
SUFFIX = {"ply_ascii": ".ply", "ply_binary": ".ply", "ply_binary_be": ".ply", "obj": ".obj", "off": ".off"}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_vertex_ids_and_colors_round_trip(tmp_path, fmt):
    v, faces, colors = _tricky_mesh()
    path = tmp_path / f"mesh{SUFFIX[fmt]}"
    WRITERS[fmt](path, v, faces, colors)
    verts, tri, col = load_geometry(path)
    np.testing.assert_allclose(verts, v.astype(np.float32), atol=1e-6)
    np.testing.assert_array_equal(tri, faces)
    np.testing.assert_array_equal(col, colors)
    # labels written per vertex line up with an independent reading of the original file
    labels = (verts[:, 0] > 0).astype(int) + 2 * (verts[:, 1] > 0)
    save_vertex_labels(tmp_path / "labels.txt", labels)
    reread = read_positions_minimal(path)
    back = load_vertex_labels(tmp_path / "labels.txt")
    assert len(back) == len(reread)
    np.testing.assert_array_equal(back, (reread[:, 0] > 0).astype(int) + 2 * (reread[:, 1] > 0))
    np.testing.assert_allclose(reread, verts, atol=1e-6)


def test_glb_meshes_concatenated_in_file_order_with_transforms(tmp_path):
    v1, f1, c1 = _tricky_mesh(1)
    v2, f2, _ = _tricky_mesh(2)
    path = tmp_path / "scene.glb"
    write_glb(path, [(v1, f1, (1.0, 0.0, 0.0), c1), (v2, f2, (0.0, 0.0, 5.0), None)])
    verts, tri, col = load_geometry(path)
    reread = read_positions_minimal(path)
    np.testing.assert_allclose(verts, reread, atol=1e-5)
    np.testing.assert_allclose(verts[:10], v1 + [1, 0, 0], atol=1e-5)
    np.testing.assert_array_equal(tri, np.concatenate([f1, f2 + 10]))
    np.testing.assert_array_equal(col[:10], c1)
    np.testing.assert_array_equal(col[10:], 255)  # the mesh without colours is white
    labels = np.arange(len(verts)) % 3
    save_vertex_labels(tmp_path / "labels.npy", labels)
    np.testing.assert_array_equal(load_vertex_labels(tmp_path / "labels.npy"), labels)


def test_obj_with_separate_vt_vn_indices_keeps_vertex_count(tmp_path):
    v, faces, _ = _tricky_mesh()
    path = tmp_path / "uv.obj"
    write_obj(path, v, faces, with_vt_vn=True)
    verts, tri, col = load_geometry(path)
    assert verts.shape == (10, 3) and col is None
    np.testing.assert_array_equal(tri, faces)


def test_obj_negative_indices_and_polygons(tmp_path):
    path = tmp_path / "quad.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf -4 -3 -2 -1\n")
    _, tri, _ = load_geometry(path)
    np.testing.assert_array_equal(tri, [[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize("fmt", ["ply", "off"])
def test_polygons_are_fan_triangulated(tmp_path, fmt):
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0]], float)
    polys = [[0, 1, 2, 3], [1, 4, 5, 2], [0, 1, 3]]
    path = tmp_path / f"poly.{fmt}"
    (write_ply_ascii(path, v, polys=polys) if fmt == "ply" else write_off(path, v, polys))
    _, tri, _ = load_geometry(path)
    np.testing.assert_array_equal(tri, [[0, 1, 2], [0, 2, 3], [1, 4, 5], [1, 5, 2], [0, 1, 3]])


def test_binary_ply_mixed_polygons(tmp_path):
    path = tmp_path / "mixed.ply"
    hdr = (
        "ply\nformat binary_little_endian 1.0\nelement vertex 5\nproperty float x\nproperty float y\nproperty float z\n"
    )
    hdr += "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
    body = np.arange(15, dtype="<f4").tobytes()
    body += bytes([4]) + np.array([0, 1, 2, 3], "<i4").tobytes() + bytes([3]) + np.array([1, 2, 4], "<i4").tobytes()
    path.write_bytes(hdr.encode() + body)
    _, tri, _ = load_geometry(path)
    np.testing.assert_array_equal(tri, [[0, 1, 2], [0, 2, 3], [1, 2, 4]])


def test_ply_without_faces_is_point_cloud_and_point_mode(tmp_path):
    v, faces, colors = _tricky_mesh()
    write_ply_binary(tmp_path / "pc.ply", v, None, colors)
    verts, tri, col = load_geometry(tmp_path / "pc.ply")
    assert tri is None and verts.shape == (10, 3)
    np.testing.assert_array_equal(col, colors)
    write_ply_binary(tmp_path / "m.ply", v, faces)
    verts, tri, _ = load_geometry(tmp_path / "m.ply", point_mode=True)
    assert tri is None and len(verts) == 10


def test_save_ply_round_trip(tmp_path):
    v, faces, colors = _tricky_mesh()
    save_ply(tmp_path / "out.ply", v, faces, colors)
    verts, tri, col = load_geometry(tmp_path / "out.ply")
    np.testing.assert_allclose(verts, v, atol=1e-6)
    np.testing.assert_array_equal(tri, faces)
    np.testing.assert_array_equal(col, colors)


# ----------------------------------------------------------------- errors
def test_error_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_geometry(tmp_path / "nope.ply")


def test_error_unsupported_format(tmp_path):
    (tmp_path / "m.stl").write_text("solid x\n")
    with pytest.raises(ValueError, match=r"unsupported geometry format '\.stl'.*supported: \.ply"):
        load_geometry(tmp_path / "m.stl")


def test_error_no_vertices(tmp_path):
    write_ply_ascii(tmp_path / "empty.ply", np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"empty\.ply: no vertices found"):
        load_geometry(tmp_path / "empty.ply")
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no vertices found"):
        load_geometry(tmp_path / "empty.obj")


def test_error_nan_coordinates(tmp_path):
    v, faces, _ = _tricky_mesh()
    v[3, 1] = np.nan
    v[5, 0] = np.inf
    write_ply_binary(tmp_path / "nan.ply", v, faces)
    with pytest.raises(ValueError, match=r"nan\.ply: 2 vertices have NaN or inf coordinates \(first ids: \[3, 5\]\)"):
        load_geometry(tmp_path / "nan.ply")


def test_error_face_index_out_of_range(tmp_path):
    v, faces, _ = _tricky_mesh()
    faces[2, 1] = 10
    write_off(tmp_path / "oob.off", v, faces)
    with pytest.raises(
        ValueError, match=r"oob\.off: face vertex ids must lie in \[0, 9\] for 10 vertices, but 1 faces"
    ):
        load_geometry(tmp_path / "oob.off")
    (tmp_path / "zero.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n")
    with pytest.raises(ValueError, match=r"zero\.obj:4: face refers to vertex 0, but OBJ vertex ids start at 1") as err:
        load_geometry(tmp_path / "zero.obj")
    assert "-1000000000000" not in str(err.value) and "add 1 to every face id" in str(err.value)


def test_error_face_with_two_vertices(tmp_path):
    v = np.eye(3)
    write_ply_ascii(tmp_path / "line.ply", v, polys=[[0, 1, 2], [0, 1]])
    with pytest.raises(ValueError, match=r"face 1 has 2 vertex id\(s\) \[0, 1\].*--point-mode"):
        load_geometry(tmp_path / "line.ply")
    # point mode ignores faces entirely
    verts, tri, _ = load_geometry(tmp_path / "line.ply", point_mode=True)
    assert tri is None and len(verts) == 3
    with pytest.raises(ValueError, match="needs at least 3"):
        triangulate_polygons([[1]])


def test_error_truncated_and_malformed_files(tmp_path):
    write_ply_binary(tmp_path / "t.ply", *_tricky_mesh()[:2])
    data = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[:-30])
    with pytest.raises(ValueError, match="truncated"):
        load_geometry(tmp_path / "t.ply")
    (tmp_path / "bad.ply").write_text("plyx\n")
    with pytest.raises(ValueError, match="not a PLY file"):
        load_geometry(tmp_path / "bad.ply")
    (tmp_path / "nohdr.ply").write_text("ply\nformat ascii 1.0\nelement vertex 1\n")
    with pytest.raises(ValueError, match="no 'end_header'"):
        load_geometry(tmp_path / "nohdr.ply")
    (tmp_path / "bad.off").write_text("NOPE\n1 0 0\n")
    with pytest.raises(ValueError, match="not an OFF file"):
        load_geometry(tmp_path / "bad.off")
    (tmp_path / "short.off").write_text("OFF\n3 1 0\n0 0 0\n")
    with pytest.raises(ValueError, match="OFF file is truncated"):
        load_geometry(tmp_path / "short.off")
    (tmp_path / "bad.obj").write_text("v 0 0\n")
    with pytest.raises(ValueError, match="a vertex needs x y z"):
        load_geometry(tmp_path / "bad.obj")
    (tmp_path / "bad2.obj").write_text("v 0 0 0\nf a b c\n")
    with pytest.raises(ValueError, match="not an integer"):
        load_geometry(tmp_path / "bad2.obj")


def test_degenerate_and_duplicate_faces_warn_and_keep_ids(tmp_path, caplog):
    v, faces, _ = _tricky_mesh()
    polys = [*faces.tolist(), [0, 0, 1], [3, 4, 2]]  # a repeated vertex, a duplicate of face 1
    write_ply_ascii(tmp_path / "dup.ply", v, polys=polys)
    with caplog.at_level(logging.WARNING, logger="omniseg3d_mesh"):
        verts, tri, _ = load_geometry(tmp_path / "dup.ply")
    assert len(tri) == 7 and len(verts) == 10
    assert "1 faces repeat a vertex" in caplog.text and "1 duplicate another face" in caplog.text


def test_load_scene_geometry_only(tmp_path):
    v, faces, colors = _tricky_mesh()
    write_ply_binary(tmp_path / "m.ply", v, faces, colors)
    scene = load_scene(tmp_path / "m.ply")
    assert scene.cameras == [] and scene.camera_format is None and scene.source == tmp_path / "m.ply"
    np.testing.assert_array_equal(scene.colors, colors)


def test_gltf_text_with_embedded_buffer(tmp_path):
    import base64
    import json
    import struct

    v1, f1, c1 = _tricky_mesh(4)
    write_glb(tmp_path / "a.glb", [(v1, f1, (0.0, 1.0, 0.0), c1)])
    data = (tmp_path / "a.glb").read_bytes()
    jlen = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20 : 20 + jlen])
    binary = data[20 + jlen + 8 :]
    gltf["buffers"] = [
        {"byteLength": len(binary), "uri": "data:application/octet-stream;base64," + base64.b64encode(binary).decode()}
    ]
    (tmp_path / "a.gltf").write_text(json.dumps(gltf))
    verts, tri, col = load_geometry(tmp_path / "a.gltf")
    np.testing.assert_allclose(verts, v1 + [0, 1, 0], atol=1e-5)
    np.testing.assert_array_equal(tri, f1)
    np.testing.assert_array_equal(col, c1)


_HDR = "ply\nformat ascii 1.0\n"


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("a.ply", "ply\nproperty float x\nend_header\n", "PLY property before any element"),
        ("b.ply", _HDR + "element vertex 1\nproperty float128 x\nend_header\n", "unknown PLY property type 'float128'"),
        ("c.ply", "ply\nformat binary_middle_endian 1.0\nend_header\n", "unknown PLY format 'binary_middle_endian'"),
        (
            "d.ply",
            _HDR + "element vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n",
            "PLY element 'vertex' is truncated",
        ),
        (
            "e.ply",
            _HDR + "element vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
            "element face 2\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2 0\n3 0 1\n",
            "PLY element 'face' is truncated or malformed",
        ),
        (
            "f.ply",
            _HDR + "element vertex 1\nproperty float a\nproperty float b\nend_header\n0 0\n",
            r"PLY 'vertex' element has no x, y, z properties \(found \['a', 'b'\]\)",
        ),
        ("g.obj", "v 0 0 zero\n", "vertex line is not numbers"),
        ("h.off", "# only a comment\n", "empty OFF file"),
        ("i.off", "OFF\nthree 1 0\n", "OFF counts line must be 'nv nf ne'"),
        ("j.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2\n", "OFF face 0 says 4 vertices but lists 3"),
    ],
)
def test_error_malformed_files(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=match):
        load_geometry(tmp_path / name)


def test_error_binary_ply_list_truncated(tmp_path):
    hdr = (
        "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
    )
    hdr += "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
    body = (
        np.zeros(9, "<f4").tobytes()
        + bytes([4])
        + np.array([0, 1, 2, 0], "<i4").tobytes()
        + bytes([3])
        + np.array([0], "<i4").tobytes()
    )
    (tmp_path / "t.ply").write_bytes(hdr.encode() + body)
    with pytest.raises(ValueError, match="PLY element 'face' is truncated"):
        load_geometry(tmp_path / "t.ply")


def test_error_validate_and_labels_shapes(tmp_path):
    from omniseg3d_mesh.io.geometry import validate_geometry

    with pytest.raises(ValueError, match=r"vertices must have 3 coordinates, found shape \(4, 2\)"):
        validate_geometry(np.zeros((4, 2)), None, "x.ply")
    with pytest.raises(ValueError, match=r"vertex labels must be a 1-D array \[V\], got shape \(2, 2\)"):
        save_vertex_labels(tmp_path / "l.txt", np.zeros((2, 2)))


def test_ply_colour_types(tmp_path):
    v = np.eye(3)
    dark = np.array([[0, 1, 0], [1, 1, 1], [0, 0, 1]], np.uint8)
    write_ply_ascii(tmp_path / "dark.ply", v, colors=dark)  # uchar colours that happen to be <= 1
    np.testing.assert_array_equal(load_geometry(tmp_path / "dark.ply")[2], dark)
    text = "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
    text += (
        "property float red\nproperty float green\nproperty float blue\nend_header\n0 0 0 1.0 0.5 0\n1 0 0 0 0 0.2\n"
    )
    (tmp_path / "f.ply").write_text(text)
    np.testing.assert_array_equal(load_geometry(tmp_path / "f.ply")[2], [[255, 128, 0], [0, 0, 51]])
