"""Cluttered rooms (synthetic.scenes.make_room), the room mask preset, and the room benchmark tool."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.evaluation import object_click_ious, vertex_mask_membership
from omniseg3d_mesh.render.fragments import compute_fragments
from omniseg3d_mesh.synthetic.masks import gt_label_maps, simulate_view_masks, with_overrides
from omniseg3d_mesh.synthetic.scenes import fused_scan, make_room, scan_points
from tests.helpers.tools import load_tool

W, H = 160, 120


@pytest.fixture(scope="module")
def room():
    syn = make_room(seed=1, num_views=48, size="tiny", width=W, height=H)
    frags = {c.name: compute_fragments(syn.scene, c, "cpu") for c in syn.scene.cameras}
    return syn, frags


def _object_areas(syn, frags):
    """[views, O] fraction of each image each object covers."""
    out = []
    for f in frags.values():
        om = gt_label_maps(syn, f)["object"]
        out.append(np.bincount(om[om >= 0], minlength=syn.num_objects) / om.size)
    return np.array(out)


def test_room_has_the_promised_objects(room):
    syn, _ = room
    names = syn.object_names
    assert syn.stuff.sum() == 5 and [names[i] for i in np.flatnonzero(syn.stuff)] == [
        "floor",
        "wall_back",
        "wall_front",
        "wall_left",
        "wall_right",
    ]
    assert 45 <= (~syn.stuff).sum() <= 60
    for want in (
        "clock_0",
        "lamp_0",
        "table_0",
        "chair_0",
        "sofa_0",
        "shelf_0",
        "monitor_0",
        "plant_0",
        "armchair_0",
        "armchair_1",
    ):
        assert want in names
    assert sum(n.startswith(("mug", "phone", "can", "candle", "bottle", "book", "bowl", "carton")) for n in names) >= 8
    assert "lamp_0/pole" in syn.part_names and "chair_0/leg_0" in syn.part_names  # thin parts
    # labels nest, names unique
    np.testing.assert_array_equal(syn.labels["object"], syn.part_object[syn.labels["part"]])
    assert len(set(names)) == len(names) and len(set(syn.part_names)) == len(syn.part_names)
    # eye-height cameras inside the room
    rw, rd, _ = syn.meta["room"]
    for cam in syn.scene.cameras:
        c = cam.center
        assert 1.2 <= c[2] <= 1.8 and abs(c[0]) < rw / 2 and abs(c[1]) < rd / 2


def test_twins_identical_and_never_seen_together(room):
    syn, frags = room
    a, b = syn.meta["twins"]
    va = syn.scene.vertices[syn.labels["object"] == a]
    vb = syn.scene.vertices[syn.labels["object"] == b]
    assert len(va) == len(vb)
    # the same shape up to a rigid motion: the same distances to the centroid, the same colours
    da = np.sort(np.linalg.norm(va - va.mean(0), axis=1))
    db = np.sort(np.linalg.norm(vb - vb.mean(0), axis=1))
    np.testing.assert_allclose(da, db, atol=1e-4)
    ca = syn.scene.colors[syn.labels["object"] == a].mean(0)
    cb = syn.scene.colors[syn.labels["object"] == b].mean(0)
    np.testing.assert_allclose(ca, cb, atol=3)
    area = _object_areas(syn, frags)
    assert (area[:, a] > 0).any() and (area[:, b] > 0).any()
    assert not ((area[:, a] > 0) & (area[:, b] > 0)).any()
    # at opposite ends of the room
    assert np.linalg.norm(va.mean(0) - vb.mean(0)) > 0.7 * syn.meta["room"][0]


def test_small_objects_and_unseen_fraction(room):
    syn, frags = room
    area = _object_areas(syn, frags)
    peak = area.max(0)
    small = ~syn.stuff & (peak > 0) & (peak < 0.002)
    assert small.sum() >= 5, "the room needs objects under 0.2 % of the image in every view"
    seen = np.zeros(syn.scene.num_vertices, bool)
    for f in frags.values():
        ok = (f.vertex_ids >= 0) & (f.weights > 0)
        seen[f.vertex_ids[ok]] = True
    assert 0.08 <= 1 - seen.mean() <= 0.25


def test_room_sizes_and_errors():
    with pytest.raises(ValueError, match="unknown room size 'huge'"):
        make_room(size="huge")
    with pytest.raises(ValueError, match="num_views must be at least 1"):
        make_room(size="tiny", num_views=0)
    a = make_room(seed=2, num_views=2, size="tiny", width=32, height=24, scan_views=20)
    b = make_room(seed=2, num_views=2, size="tiny", width=32, height=24, scan_views=20)
    np.testing.assert_array_equal(a.scene.vertices, b.scene.vertices)
    np.testing.assert_allclose(a.scene.cameras[1].world_to_cam, b.scene.cameras[1].world_to_cam)


def test_room_preset_keeps_small_objects_masks():
    # at 640x480 the room preset keeps masks down to SAM's ~100 px
    syn = make_room(seed=0, num_views=3, size="tiny", width=640, height=480, scan_views=60)
    cfg = with_overrides("room", p_part=1.0, p_split=0.0, p_boundary=0.0, p_merge=0.0, p_part_group=0.0)
    assert 90 <= cfg.min_area * 640 * 480 <= 110
    checked = 0
    for i, cam in enumerate(syn.scene.cameras):
        f = compute_fragments(syn.scene, cam, "cpu")
        masks = simulate_view_masks(syn, f, cfg, seed=0, view_index=i)
        pm = gt_label_maps(syn, f)["part"]
        ids, cnt = np.unique(pm[pm >= 0], return_counts=True)
        for p, c in zip(ids, cnt):
            if 100 <= c < 600 and not syn.stuff[syn.part_object[p]]:
                assert any(np.array_equal(m, pm == p) for m in masks), (
                    f"part {syn.part_names[p]} ({c} px) lost its mask"
                )
                checked += 1
    assert checked >= 3


def test_object_click_ious_on_an_oracle_field(room):
    syn, frags = room
    obj = syn.labels["object"]
    rng = np.random.default_rng(0)
    feats = np.eye(syn.num_objects, dtype=np.float32)[obj] + 0.05 * rng.normal(size=(len(obj), syn.num_objects)).astype(
        np.float32
    )
    from omniseg3d_mesh.select import Selector

    sel = Selector(feats, syn.scene.vertices, syn.scene.faces)
    cams = syn.scene.cameras
    mem, seen = [], np.zeros(len(obj), bool)
    for i, c in enumerate(cams):
        m = simulate_view_masks(syn, frags[c.name], "clean", seed=0, view_index=i)
        member, s = vertex_mask_membership(frags[c.name], m, syn.scene.num_vertices)
        mem.append(member)
        seen |= s
    things = np.flatnonzero(~syn.stuff)[:10]
    res = object_click_ious(sel, obj, things, mem, clickable=seen)
    assert res["raw"].min() > 0.99 and res["click"].mean() > 0.6
    # clean masks: voting finds the seen part of each object (it cannot label what no view shows)
    assert res["voting"].mean() > 0.35 and set(res) >= {"objects", "clicks", "voting", "raw", "click"}
    assert all(obj[v] == o and seen[v] for v, o in zip(res["clicks"], things))
    with pytest.raises(ValueError, match="object 999 has no vertices"):
        object_click_ious(sel, obj, [999])


def test_eval_rooms_tool_runs_and_caches(tmp_path, capsys, monkeypatch):
    mod = load_tool("eval_rooms", monkeypatch)
    argv = "--quick --views 6 --width 96 --height 72 --set steps=20 --set num_pixels=256".split()
    argv += ["--cache", str(tmp_path)]
    assert mod.main(argv) == 0
    text = capsys.readouterr().out
    assert "| mesh | voting (no learning) |" in text and "| mesh | field, hierarchy click |" in text
    assert "fit: defaults + steps=20, num_pixels=256" in text and "Command: `python tools/eval_rooms.py --quick" in text
    assert "fragments" in text  # first run computes them
    assert mod.main(argv) == 0
    assert "fragments" not in capsys.readouterr().out.split("| geometry")[0]  # second run: from the cache
    # --discretize: the object level of the default discretization, and a YAML's discretize: section
    cfg = tmp_path / "pairs.yaml"
    cfg.write_text("discretize:\n  granularity_weight: pairs\n")
    assert mod.main([*argv, "--discretize", "--config", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert (
        "  discretize: " in text and "views " in text and "| mesh | " in text.split("label agreement on the views |")[1]
    )
    with pytest.raises(ValueError, match="--set expects key=value"):
        mod.fit_config(None, ["steps"])
    with pytest.raises(ValueError, match="unknown FitConfig field"):
        mod.fit_config(None, ["stepz=3"])


def test_scan_points_even_and_labelled(room):
    """A scanner's cloud: about as many points as vertices, more evenly spaced than the
    mesh's own vertices, each with its triangle's labels and lying on that triangle."""
    from scipy.spatial import cKDTree

    syn, _ = room
    pc, face, nearest = scan_points(syn, seed=0)
    n, v = pc.scene.num_vertices, syn.scene.vertices
    assert pc.scene.faces is None and abs(n - syn.scene.num_vertices) < 0.05 * syn.scene.num_vertices
    assert pc.scene.cameras is syn.scene.cameras and pc.scene.colors.shape == (n, 3)
    f = syn.scene.faces[face]
    assert (nearest[:, None] == f).any(axis=1).all()
    d_near = np.linalg.norm(pc.scene.vertices - v[nearest], axis=1)
    assert (d_near[:, None] <= np.linalg.norm(pc.scene.vertices[:, None] - v[f], axis=2) + 1e-6).all()
    for level in ("part", "object", "group"):
        np.testing.assert_array_equal(pc.labels[level], syn.labels[level][f[:, 0]])
        assert len(np.unique(pc.labels[level])) <= len(np.unique(syn.labels[level]))
    # on its triangle: inside the triangle's bounding box
    lo, hi = v[f].min(1) - 1e-5, v[f].max(1) + 1e-5
    assert ((pc.scene.vertices >= lo) & (pc.scene.vertices <= hi)).all()

    def crowding(x):  # the 10th percentile of nearest / 6th-nearest neighbour distance
        d, _ = cKDTree(x).query(x, k=7)
        return np.percentile(d[:, 1] / d[:, 6], 10)

    assert crowding(pc.scene.vertices) > crowding(v) + 0.05
    again, _, _ = scan_points(syn, seed=0)
    np.testing.assert_array_equal(again.scene.vertices, pc.scene.vertices)
    with pytest.raises(ValueError, match="needs a mesh"):
        scan_points(pc)


def test_fused_scan_is_one_welded_surface_with_labels(room):
    """The room as a depth-camera scan reconstructs it: near the original surface, welded
    (the generator's separate pieces join), about as many vertices as asked for, labels of
    the nearest surface point."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    from omniseg3d_mesh.graph import mesh_adjacency

    syn, frags = room
    depths = [frags[c.name].depth for c in syn.scene.cameras]
    scan, nearest = fused_scan(syn, num_vertices=3000, voxel=0.03, depths=depths)
    sc = scan.scene
    assert sc.faces is not None and 2000 < sc.num_vertices < 4000 and sc.cameras is syn.scene.cameras
    assert nearest.shape == (sc.num_vertices,) and nearest.max() < syn.scene.num_vertices
    dense, _, _ = scan_points(syn, num_points=8 * syn.scene.num_vertices, seed=0)
    dist, idx = cKDTree(dense.scene.vertices).query(sc.vertices)
    assert np.median(dist) < 0.03  # within a voxel of the surface
    for level in ("part", "object", "group"):
        np.testing.assert_array_equal(scan.labels[level], dense.labels[level][idx])
    assert set(np.flatnonzero(syn.stuff)) <= set(np.unique(scan.labels["object"]))  # floor and walls
    n_pieces = sp.csgraph.connected_components(mesh_adjacency(syn.scene.faces, syn.scene.num_vertices))[0]
    n_scan, comp = sp.csgraph.connected_components(mesh_adjacency(sc.faces, sc.num_vertices))
    assert n_scan < n_pieces and np.bincount(comp).max() > 0.8 * sc.num_vertices
    with pytest.raises(ValueError, match="one image per camera"):
        fused_scan(syn, depths=depths[:2])
    with pytest.raises(ValueError, match="point cloud"):
        fused_scan(dense)


def test_eval_rooms_point_mode_scan_and_vertices(tmp_path, capsys, monkeypatch):
    mod = load_tool("eval_rooms", monkeypatch)
    argv = "--quick --views 4 --width 96 --height 72 --set steps=10 --set num_pixels=128 --point-mode".split()
    argv += ["--cache", str(tmp_path)]
    assert mod.main(argv) == 0
    text = capsys.readouterr().out
    assert "| points (scan) | field, raw score |" in text
    assert mod.main([*argv, "--point-source", "vertices"]) == 0
    assert "| points (vertices) | field, raw score |" in capsys.readouterr().out
    syn = mod.load_or_make_room(mod.case_dir(tmp_path, 0, 4, "tiny", 96, 72, 50, "room"), 0, 50, 4, "tiny", 96, 72)
    case = mod.prepare_room(0, 4, "tiny", 96, 72, cache=tmp_path, point_mode=True, say=lambda *a: None)
    assert case.scene.faces is None and len(case.seen) == case.scene.num_vertices != syn.scene.num_vertices
    with pytest.raises(ValueError, match="point_source"):
        mod.prepare_room(0, 4, "tiny", 96, 72, cache=tmp_path, point_mode=True, point_source="mesh")
    assert mod.main([*argv, "--geometry", "fused"]) == 0
    text = capsys.readouterr().out
    assert "| fused scan mesh | field, hierarchy click |" in text
    assert "| fused scan, its vertices as points | field, raw score |" in text
    fused = mod.prepare_room(0, 4, "tiny", 96, 72, cache=tmp_path, geometry="fused", say=lambda *a: None)
    assert fused.scene.faces is not None and len(fused.seen) == fused.scene.num_vertices
    assert (tmp_path / mod.case_dir(tmp_path, 0, 4, "tiny", 96, 72, 50, "room").name / "fused" / "scan.npz").is_file()
    with pytest.raises(ValueError, match="geometry"):
        mod.prepare_room(0, 4, "tiny", 96, 72, cache=tmp_path, geometry="poisson")


def test_similarity_levels_hand_made():
    from omniseg3d_mesh.evaluation import similarity_levels

    # parts 0, 1 of object 0 and part 2 of object 1; features: part 0 = e0, part 1 = (e0 + e1)/sqrt2, part 2 = e2
    f = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0], [0, 0, 2]], np.float32)
    part = np.array([0, 0, 1, 1, 2])
    obj = np.array([0, 0, 0, 0, 1])
    same, other_part, other_obj = similarity_levels(f, part, obj, np.ones(5, bool))
    # same-part pairs include each vertex with itself (all 1)
    assert same == pytest.approx(1.0) and other_part == pytest.approx(2**-0.5) and other_obj == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least two sampled vertices, got 1"):
        similarity_levels(f, part, obj, np.eye(5, dtype=bool)[0])
    # weights: a vertex of zero weight is never drawn; only part 1 and object 1 are left here
    w = np.array([0, 0, 1, 1, 1], float)
    same, other_part, other_obj = similarity_levels(f, part, obj, np.ones(5, bool), weights=w)
    assert same == pytest.approx(1.0) and np.isnan(other_part) and other_obj == pytest.approx(0.0)
    with pytest.raises(ValueError, match="weights must be finite"):
        similarity_levels(f, part, obj, np.ones(5, bool), weights=-w)
    with pytest.raises(ValueError, match="positive weight"):
        similarity_levels(f, part, obj, np.ones(5, bool), weights=np.eye(5)[0])


def test_eval_scale_tool_smoke(tmp_path, capsys, monkeypatch):
    mod = load_tool("eval_scale", monkeypatch)
    argv = "--sizes tiny --views 5 --width 96 --height 72 --set steps=20 --set num_pixels=256".split()
    argv += ["--cache", str(tmp_path), "--in-process"]
    assert mod.main(argv) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("| tiny |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "5" and -1 <= float(cells[6]) <= 2  # views, part gap
    assert "Command: `python tools/eval_scale.py --sizes tiny" in text
