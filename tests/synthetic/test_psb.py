"""Princeton-benchmark loader and annotator-split mask simulator, on a tiny made-up mesh."""

import numpy as np
import pytest

from omniseg3d_mesh.synthetic.psb import (
    list_psb,
    load_psb,
    psb_category,
    simulate_psb_masks,
    sphere_cameras,
    subdivide_psb,
)
from tests.helpers.tools import load_tool


def _write_case(root, name="101"):
    """A subdivided cube as OFF; annotator 0 cuts it at z = 0 into two halves, annotator 1 keeps it whole,
    annotator 2 cuts it at z = 0 and splits the top half at x = 0."""
    import trimesh

    mesh = trimesh.creation.box(extents=(1, 1, 1)).subdivide().subdivide()
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    c = v[f].mean(1)
    lines = ["OFF", f"{len(v)} {len(f)} 0"] + [f"{x} {y} {z}" for x, y, z in v] + [f"3 {a} {b} {d}" for a, b, d in f]
    (root / f"{name}.off").write_text("\n".join(lines) + "\n")
    seg = root / "seg" / name
    seg.mkdir(parents=True)
    top = c[:, 2] > 0
    labels = {
        "0": np.where(top, 5, 9),
        "1": np.zeros(len(f), int),
        "2": np.where(top, np.where(c[:, 0] > 0, 1, 2), 3),
    }
    for a, lab in labels.items():
        (seg / f"{name}_{a}.seg").write_text("\n".join(str(int(x)) for x in lab) + "\n")
    return v, f, labels


def test_load_psb_reads_every_annotator(tmp_path):
    v, f, labels = _write_case(tmp_path)
    psb = load_psb(tmp_path / "101.off", num_views=6, width=64, height=64)
    assert psb.category == "chair" and psb_category("302") == "bust" and psb_category("x") == "unknown"
    assert psb.annotators == ["0", "1", "2"]
    for a in labels:
        np.testing.assert_array_equal(psb.face_labels[a], labels[a])
    # vertex labels: top vertices (z > 0) belong to the top half for annotator 0
    vl = psb.vertex_labels["0"]
    assert np.all(vl[v[:, 2] > 0.01] == 5) and np.all(vl[v[:, 2] < -0.01] == 9)
    assert len(psb.scene.cameras) == 6 and psb.areas.shape == (len(f),)
    assert list_psb(tmp_path) == ["101"]


def test_subdivide_psb_keeps_the_shape_its_labels_and_cameras(tmp_path):
    v, f, labels = _write_case(tmp_path)
    psb = load_psb(tmp_path / "101.off", num_views=3, width=32, height=32)
    fine = subdivide_psb(psb, 4 * len(v))
    sc = fine.scene
    assert sc.num_vertices >= 4 * len(v) and len(sc.faces) == 16 * len(f)  # two rounds of 1 -> 4 triangles
    np.testing.assert_allclose(sc.vertices[: len(v)], v)  # the old vertices stay; the new ones are midpoints
    assert np.isclose(fine.areas.sum(), psb.areas.sum())  # the surface does not move
    assert fine.scene.cameras == psb.scene.cameras and fine.annotators == psb.annotators
    c = sc.vertices[sc.faces].mean(1)
    for a in labels:  # each annotator's segments cover the same area, on the same side of its cuts
        old = np.bincount(psb.face_labels[a], weights=psb.areas)
        np.testing.assert_allclose(np.bincount(fine.face_labels[a], weights=fine.areas), old)
    assert np.all(fine.face_labels["0"][c[:, 2] > 0] == 5) and np.all(fine.face_labels["0"][c[:, 2] < 0] == 9)
    assert np.all(fine.vertex_labels["0"][sc.vertices[:, 2] > 0.01] == 5)
    assert subdivide_psb(psb, 10) is psb  # already fine enough
    with pytest.raises(ValueError, match="min_vertices"):
        subdivide_psb(psb, -1)


def test_load_psb_errors(tmp_path):
    _write_case(tmp_path)
    (tmp_path / "seg" / "101" / "101_3.seg").write_text("1\n2\n")
    with pytest.raises(ValueError, match="2 segment ids but the mesh has .* faces"):
        load_psb(tmp_path / "101.off")
    with pytest.raises(FileNotFoundError, match="segmentation folder"):
        load_psb(tmp_path / "101.off", seg_dir=tmp_path / "nope")


def test_sphere_cameras_see_the_object(tmp_path):
    from omniseg3d_mesh.render.fragments import compute_fragments

    v, f, _ = _write_case(tmp_path)
    psb = load_psb(tmp_path / "101.off", num_views=8, width=48, height=48)
    for cam in psb.scene.cameras:
        fr = compute_fragments(psb.scene, cam, "cpu")
        cover = fr.valid.mean()
        assert 0.1 < cover < 0.9  # whole object in frame, with a margin
        assert not fr.valid[0].any() and not fr.valid[-1].any()
    with pytest.raises(ValueError, match="at least 1"):
        sphere_cameras(v, 0)


def test_masks_from_the_mask_split_only(tmp_path):
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.synthetic.masks import MaskSimConfig

    _write_case(tmp_path)
    psb = load_psb(tmp_path / "101.off", num_views=4, width=48, height=48)
    frags = {c.name: compute_fragments(psb.scene, c, "cpu") for c in psb.scene.cameras}
    clean = MaskSimConfig(p_object=0.0)
    masks = simulate_psb_masks(psb, frags, ["0"], clean, seed=0)
    for view, fr in frags.items():
        lab = np.where(fr.face_ids >= 0, psb.face_labels["0"][np.clip(fr.face_ids, 0, None)], -1)
        expected = [lab == s for s in np.unique(lab[lab >= 0]) if (lab == s).sum() >= 16]
        got = masks[view]
        assert len(got) == len(expected)
        for e in expected:
            assert any(np.array_equal(g, e) for g in got)
    # annotators 0 and 2 agree on the bottom half: proposed once; annotator 1 is never used
    both = simulate_psb_masks(psb, frags, ["0", "2"], clean, seed=0)
    whole = {v: fr.valid for v, fr in frags.items()}
    for view, stack in both.items():
        keys = {m.tobytes() for m in stack}
        assert len(keys) == len(stack)
        assert not any(np.array_equal(m, whole[view]) for m in stack)
    with pytest.raises(ValueError, match="not in mesh 101"):
        simulate_psb_masks(psb, frags, ["7"], clean)


def test_masks_with_errors_are_reproducible(tmp_path):
    from omniseg3d_mesh.render.fragments import compute_fragments

    _write_case(tmp_path)
    psb = load_psb(tmp_path / "101.off", num_views=3, width=64, height=64)
    frags = {c.name: compute_fragments(psb.scene, c, "cpu") for c in psb.scene.cameras}
    a = simulate_psb_masks(psb, frags, ["0", "2"], "hard", seed=3)
    b = simulate_psb_masks(psb, frags, ["0", "2"], "hard", seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_eval_psb_tool_prints_tables(tmp_path, capsys):
    _write_case(tmp_path)
    mod = load_tool("eval_psb")
    assert mod.held_out_annotators(["0", "1", "2", "3", "4"], 2) == ["0", "4"]
    argv = ["--data", str(tmp_path), *"--views 4 --size 48 --steps 5 --folds 2".split()]
    argv += ["--cache", str(tmp_path / "cache")]
    assert mod.main(argv) == 0
    text = capsys.readouterr().out
    for expected in (
        "| 101 | chair |",
        "| human vs human, same meshes (every pair) |",
        "| human vs the held-out annotators (each other human predicts the same folds) |",
        "RandCuts (published, full benchmark) | 0.152",
        "voting anchor (no learning)",
        "Command: `python tools/eval_psb.py --data",
    ):
        assert expected in text
    assert len(list((tmp_path / "cache").glob("101_*.npy"))) == 2  # one field per held-out annotator
    assert mod.main(argv + ["--no-clicks", "--num-parts", "2"]) == 0  # fields from the cache
    assert "fields from the cache" in capsys.readouterr().out
    assert mod.main(argv + ["--no-clicks", "--study-granularity"]) == 0
    text = capsys.readouterr().out
    assert "| the same, ranges counted from the field's noise floor (default without masks) |" in text
    assert "| default: the cut most mask votes agree with (each merge weighs by its votes) |" in text
    assert "(previous default) |" in text and "| oracle: best cut of the tree |" in text
    assert mod.main(argv + ["--no-clicks", "--folds", "1", "--subdivide", "1000"]) == 0  # the scale sweep's meshes
    text = capsys.readouterr().out
    row = next(x for x in text.splitlines() if x.startswith("| 101 | ") and x.count("|") == 8)
    vertices, gap = int(row.split("|")[2]), float(row.split("|")[6])
    assert vertices >= 1000 and -2.0 <= gap <= 2.0


def _summary_ri(text: str, row: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(f"| {row}"))
    return float(line.split("|")[2].split("±")[0])


def test_eval_psb_matched_human_row(tmp_path, capsys):
    """The human row for the held-out folds: each other annotator predicts the held-out
    one. Holding out every annotator gives the all-pairs figure (RI is symmetric);
    holding out the two cutters (0 and 2) of the three annotators gives their own mean."""
    from omniseg3d_mesh.evaluation import rand_index_error

    _, _, labels = _write_case(tmp_path)
    psb = load_psb(tmp_path / "101.off", num_views=4, width=48, height=48)
    mod = load_tool("eval_psb")
    argv = ["--data", str(tmp_path), *"--views 4 --size 48 --steps 5 --no-clicks".split()]
    assert mod.main(argv + ["--folds", "3"]) == 0
    text = capsys.readouterr().out
    every = _summary_ri(text, "human vs human, same meshes (every pair)")
    assert _summary_ri(text, "human vs the held-out annotators") == pytest.approx(every, abs=1e-3)
    assert mod.main(argv + ["--folds", "2"]) == 0
    text = capsys.readouterr().out

    def ri(a, b):
        return rand_index_error(psb.face_labels[a], psb.face_labels[b], psb.areas)

    expected = np.mean([np.mean([ri("1", h), ri(o, h)]) for h, o in (("0", "2"), ("2", "0"))])
    assert _summary_ri(text, "human vs the held-out annotators") == pytest.approx(expected, abs=1e-3)
    assert abs(expected - every) > 0.01  # the folds' own figure, not the all-pairs one
