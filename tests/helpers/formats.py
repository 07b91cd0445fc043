"""Writers for small test geometry in every format, independent of the library's readers."""

from __future__ import annotations

import json
import struct

import numpy as np


def write_ply_ascii(path, v, faces=None, colors=None, polys=None):
    lines = [
        "ply",
        "format ascii 1.0",
        "comment test",
        f"element vertex {len(v)}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if colors is not None:
        lines += ["property uchar red", "property uchar green", "property uchar blue"]
    polys = polys if polys is not None else ([] if faces is None else [list(f) for f in faces])
    if faces is not None or polys:
        lines += [f"element face {len(polys)}", "property list uchar int vertex_indices"]
    lines.append("end_header")
    for i, p in enumerate(v):
        row = " ".join(repr(float(x)) for x in p)
        if colors is not None:
            row += " " + " ".join(str(int(c)) for c in colors[i])
        lines.append(row)
    for f in polys:
        lines.append(f"{len(f)} " + " ".join(str(int(i)) for i in f))
    path.write_text("\n".join(lines) + "\n")


def write_ply_binary(path, v, faces=None, colors=None, big_endian=False, extra_face_prop=False):
    e = ">" if big_endian else "<"
    hdr = [
        "ply",
        f"format binary_{'big' if big_endian else 'little'}_endian 1.0",
        f"element vertex {len(v)}",
        "property double x",
        "property double y",
        "property double z",
    ]
    fields = [("x", e + "f8"), ("y", e + "f8"), ("z", e + "f8")]
    if colors is not None:
        hdr += ["property uchar red", "property uchar green", "property uchar blue", "property uchar alpha"]
        fields += [("r", "u1"), ("g", "u1"), ("b", "u1"), ("a", "u1")]
    rows = np.zeros(len(v), dtype=fields)
    rows["x"], rows["y"], rows["z"] = v.T
    if colors is not None:
        rows["r"], rows["g"], rows["b"], rows["a"] = colors[:, 0], colors[:, 1], colors[:, 2], 255
    body = rows.tobytes()
    if faces is not None:
        hdr += [f"element face {len(faces)}", "property list uchar uint vertex_indices"]
        if extra_face_prop:
            hdr += ["property uchar flags"]
            fr = np.zeros(len(faces), dtype=[("n", "u1"), ("i", e + "u4", (3,)), ("fl", "u1")])
        else:
            fr = np.zeros(len(faces), dtype=[("n", "u1"), ("i", e + "u4", (3,))])
        fr["n"], fr["i"] = 3, faces
        body += fr.tobytes()
    path.write_bytes(("\n".join(hdr) + "\nend_header\n").encode() + body)


def write_obj(path, v, faces, colors=None, with_vt_vn=True):
    lines = ["# test obj", "o part"]
    for i, p in enumerate(v):
        row = "v " + " ".join(repr(float(x)) for x in p)
        if colors is not None:
            row += " " + " ".join(repr(int(c) / 255.0) for c in colors[i])
        lines.append(row)
    # texture coordinates and normals with their own (different) numbering
    for i in range(len(faces) * 3):
        lines.append(f"vt {i / (3 * len(faces)):.4f} 0.5")
    lines.append("vn 0 0 1")
    for k, f in enumerate(faces):
        if with_vt_vn:
            lines.append("f " + " ".join(f"{a + 1}/{3 * k + j + 1}/1" for j, a in enumerate(f)))
        else:
            lines.append("f " + " ".join(str(a + 1) for a in f))
    path.write_text("\n".join(lines) + "\n")


def write_off(path, v, polys, colors=None):
    head = "COFF" if colors is not None else "OFF"
    lines = [head, "# comment", f"{len(v)} {len(polys)} 0"]
    for i, p in enumerate(v):
        row = " ".join(repr(float(x)) for x in p)
        if colors is not None:
            row += " " + " ".join(str(int(c)) for c in colors[i]) + " 255"
        lines.append(row)
    for f in polys:
        lines.append(f"{len(f)} " + " ".join(str(int(i)) for i in f))
    path.write_text("\n".join(lines) + "\n")


def write_glb(path, meshes):
    """meshes: list of (vertices [n,3], faces [m,3], translation [3], colors [n,3] u8 or None)."""
    bin_chunks = []
    views, accessors, gl_meshes, nodes = [], [], [], []
    offset = 0

    def add(arr, target, comp, typ):
        nonlocal offset
        data = np.ascontiguousarray(arr).tobytes()
        pad = (-len(data)) % 4
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data), "target": target})
        bin_chunks.append(data + b"\x00" * pad)
        offset += len(data) + pad
        acc = {
            "bufferView": len(views) - 1,
            "componentType": comp,
            "count": int(arr.shape[0]) if typ != "SCALAR" else int(arr.size),
            "type": typ,
        }
        if typ == "VEC3" and comp == 5126:
            acc["min"] = arr.min(axis=0).tolist()
            acc["max"] = arr.max(axis=0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    for k, (v, f, t, c) in enumerate(meshes):
        pos = add(np.asarray(v, np.float32), 34962, 5126, "VEC3")
        idx = add(np.asarray(f, np.uint32).ravel(), 34963, 5125, "SCALAR")
        attrs = {"POSITION": pos}
        if c is not None:
            attrs["COLOR_0"] = add(
                np.concatenate([np.asarray(c, np.float32) / 255.0, np.ones((len(c), 1), np.float32)], 1),
                34962,
                5126,
                "VEC4",
            )
        gl_meshes.append({"primitives": [{"attributes": attrs, "indices": idx, "mode": 4}]})
        nodes.append({"mesh": k, "translation": [float(x) for x in t]})
    binary = b"".join(bin_chunks)
    gltf = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": list(range(len(nodes)))}],
        "nodes": nodes,
        "meshes": gl_meshes,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(binary)}],
    }
    js = json.dumps(gltf).encode()
    js += b" " * ((-len(js)) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    out = (
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(js), b"JSON")
        + js
        + struct.pack("<I4s", len(binary), b"BIN\x00")
        + binary
    )
    path.write_bytes(out)


def read_positions_minimal(path):
    """An independent minimal reader of vertex positions (file order) for the formats above."""
    suffix = path.suffix.lower()
    if suffix == ".obj":
        return np.array(
            [[float(x) for x in ln.split()[1:4]] for ln in path.read_text().splitlines() if ln.startswith("v ")]
        )
    if suffix == ".off":
        rows = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
        nv = int(rows[1].split()[0])
        return np.array([[float(x) for x in r.split()[:3]] for r in rows[2 : 2 + nv]])
    if suffix == ".ply":
        data = path.read_bytes()
        end = data.index(b"end_header\n") + len(b"end_header\n")
        header = data[:end].decode().splitlines()
        nv = int(next(ln for ln in header if ln.startswith("element vertex")).split()[2])
        if "format ascii 1.0" in header:
            return np.array([[float(x) for x in ln.split()[:3]] for ln in data[end:].decode().splitlines()[:nv]])
        e = ">" if any("big_endian" in ln for ln in header) else "<"
        props = [
            ln.split()[1]
            for ln in header[header.index(next(ln for ln in header if ln.startswith("element vertex"))) + 1 :]
            if ln.startswith("property")
        ]
        sizes = {"double": "f8", "float": "f4", "uchar": "u1"}
        vprops = []
        for ln in header[header.index(next(ln for ln in header if ln.startswith("element vertex"))) + 1 :]:
            if not ln.startswith("property"):
                break
            vprops.append((ln.split()[2], e + sizes[ln.split()[1]]))
        del props
        rows = np.frombuffer(data, dtype=np.dtype(vprops), count=nv, offset=end)
        return np.stack([rows["x"], rows["y"], rows["z"]], 1).astype(np.float64)
    if suffix == ".glb":
        data = path.read_bytes()
        jlen = struct.unpack_from("<I", data, 12)[0]
        gltf = json.loads(data[20 : 20 + jlen])
        bin_start = 20 + jlen + 8
        out = []
        for node in gltf["nodes"]:
            acc = gltf["accessors"][gltf["meshes"][node["mesh"]]["primitives"][0]["attributes"]["POSITION"]]
            view = gltf["bufferViews"][acc["bufferView"]]
            v = np.frombuffer(data, np.float32, acc["count"] * 3, bin_start + view["byteOffset"]).reshape(-1, 3)
            out.append(v.astype(np.float64) + np.asarray(node.get("translation", [0, 0, 0])))
        return np.concatenate(out)
    raise ValueError(suffix)
