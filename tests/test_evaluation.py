"""Metrics of the paper's protocol on hand-made cases, and on an oracle field."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.evaluation import (
    best_threshold_iou,
    discretization_scores,
    hierarchical_miou,
    make_queries,
    mask_iou,
    masks_only_miou,
)
from tests.helpers.tools import load_tool


def _brute_force(scores, gt):
    best = 0.0
    for th in np.concatenate([np.unique(scores) - 1e-9, [scores.max() + 1]]):
        best = max(best, mask_iou(scores > th, gt))
    return best


def test_best_threshold_iou_hand_made():
    scores = np.array([[0.9, 0.8, 0.1], [0.7, 0.2, 0.1]])
    gt = np.array([[1, 1, 0], [1, 0, 0]], bool)
    iou, th = best_threshold_iou(scores, gt)
    assert iou == 1.0 and 0.2 <= th < 0.7
    np.testing.assert_array_equal(scores > th, gt)
    # no threshold separates them: best is 2/3 ({0.9, 0.8} or all three over 0.5)
    gt2 = np.array([[1, 0, 0], [1, 0, 0]], bool)
    iou2, _ = best_threshold_iou(scores, gt2)
    assert iou2 == pytest.approx(2 / 3)
    # ties are taken together (score > th cannot split equal scores)
    tied = np.array([0.5, 0.5, 0.5, 0.1])
    assert best_threshold_iou(tied, np.array([1, 0, 0, 0], bool))[0] == pytest.approx(1 / 3)
    # invalid pixels are ignored
    valid = np.array([[1, 1, 1], [0, 1, 1]], bool)
    assert best_threshold_iou(scores, gt2, valid)[0] == 1.0


def test_best_threshold_iou_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = np.round(rng.uniform(size=50), 1)
        g = rng.uniform(size=50) < 0.3
        if g.any():
            assert best_threshold_iou(s, g)[0] == pytest.approx(_brute_force(s, g))
    with pytest.raises(ValueError, match="same shape"):
        best_threshold_iou(np.zeros(3), np.zeros(4, bool))


def test_discretization_scores_hand_made():
    gt = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    assert discretization_scores(gt + 10, gt) == pytest.approx((1.0, 1.0))
    pred = np.array([5, 5, 6, 7, 7, 8, 8, 8])  # part 0 split in 2/3 + 1/3
    ari, miou = discretization_scores(pred, gt)
    assert miou == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert 0 < ari < 1
    merged = np.array([1, 1, 1, 1, 1, 2, 2, 2])  # parts 0 and 1 merged
    assert discretization_scores(merged, gt)[1] == pytest.approx((3 / 5 + 0 + 1) / 3)
    noise = np.array([-1, -1, -1, 1, 1, 2, 2, 2])  # noise never matches
    assert discretization_scores(noise, gt)[1] == pytest.approx(2 / 3)
    ignored = np.array([0, 0, 0, 1, 1, -1, -1, -1])
    assert discretization_scores(np.array([0, 0, 0, 1, 1, 9, 9, 9]), ignored) == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError, match="must both be"):
        discretization_scores(np.zeros(3), np.zeros(4))


@pytest.fixture(scope="module")
def bench():
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.synthetic.masks import gt_label_maps, simulate_masks
    from omniseg3d_mesh.synthetic.scenes import make_scene

    syn = make_scene("small", seed=0, num_views=4, width=96, height=72)
    frags = {c.name: compute_fragments(syn.scene, c, "cpu") for c in syn.scene.cameras}
    maps = {v: gt_label_maps(syn, f) for v, f in frags.items()}
    parts = {v: m["part"] for v, m in maps.items()}
    objs = {v: m["object"] for v, m in maps.items()}
    queries = make_queries(parts, syn.part_object, syn.stuff, per_view=3, seed=0)
    return syn, frags, parts, objs, queries, simulate_masks


def _oracle_features(syn, part_weight):
    """Unit features: object one-hot plus a smaller part one-hot (a perfect 2-level field)."""
    n_parts, n_objects = syn.num_parts, syn.num_objects
    f = np.zeros((syn.scene.num_vertices, n_objects + n_parts), np.float32)
    f[np.arange(len(f)), syn.labels["object"]] = 1.0
    f[np.arange(len(f)), n_objects + syn.labels["part"]] = part_weight
    return f


def test_queries_on_parts_of_multi_part_objects(bench):
    syn, frags, parts, objs, queries, _ = bench
    assert len(queries) >= 6
    for q in queries:
        assert parts[q.view][q.row, q.col] == q.part and objs[q.view][q.row, q.col] == q.object
        assert syn.part_object[q.part] == q.object and not syn.stuff[q.object]
        assert (objs[q.view] == q.object).sum() > (parts[q.view] == q.part).sum()


def test_oracle_field_scores_near_100(bench):
    syn, frags, parts, objs, queries, _ = bench
    res = hierarchical_miou(_oracle_features(syn, 0.5), syn.scene, frags, parts, objs, queries)
    assert res["level1"] > 95 and res["level2"] > 95 and res["num_queries"] == len(queries)
    # a field that only knows objects cannot isolate parts
    flat = hierarchical_miou(_oracle_features(syn, 0.0), syn.scene, frags, parts, objs, queries)
    assert flat["level2"] > 95 and flat["level1"] < res["level1"] - 10
    with pytest.raises(ValueError, match="field has 3 vertices"):
        hierarchical_miou(np.zeros((3, 4)), syn.scene, frags, parts, objs, queries)


def test_query_off_surface_is_an_error(bench):
    import dataclasses

    syn, frags, parts, objs, queries, _ = bench
    q = queries[0]
    fr = frags[q.view]
    holed = dataclasses.replace(fr, vertex_ids=fr.vertex_ids.copy())
    holed.vertex_ids[q.row, q.col] = -1
    with pytest.raises(ValueError, match="sees no surface"):
        hierarchical_miou(_oracle_features(syn, 0.5), syn.scene, {q.view: holed}, parts, objs, [q])


def test_masks_only_clean_vs_hard(bench):
    syn, frags, parts, objs, queries, simulate_masks = bench
    clean = masks_only_miou(simulate_masks(syn, frags, "clean", seed=0), frags, parts, objs, queries)
    hard = masks_only_miou(simulate_masks(syn, frags, "hard", seed=0), frags, parts, objs, queries)
    assert clean["level1"] == pytest.approx(100.0) and clean["level2"] == pytest.approx(100.0)
    assert hard["average"] < clean["average"] - 5
    empty = masks_only_miou({}, frags, parts, objs, queries)
    assert empty["average"] == 0.0


def test_tiny_benchmark_end_to_end():
    """prepare -> fit (few steps) -> paper protocol + 3D metrics; and the tool's tables."""
    from omniseg3d_mesh.config import FitConfig
    from omniseg3d_mesh.evaluation import evaluate_3d, evaluate_field, evaluate_masks, prepare_benchmark
    from omniseg3d_mesh.fit import fit_field

    data = prepare_benchmark("small", "clean", seed=0, num_views=3, width=80, height=60, queries_per_view=3)
    assert data.queries and evaluate_masks(data)["average"] == pytest.approx(100.0)
    cfg = FitConfig(steps=40, num_pixels=512, lr=0.05, lr_final=0.005, smooth_weight=1.0, checkpoint_every=0)
    field = fit_field(data.syn.scene, data.masks, cfg)
    res = evaluate_field(field, data)
    assert res["num_queries"] == len(data.queries)
    assert 0 < res["level1"] <= 100 and 0 < res["level2"] <= 100  # quality: see the oracle test and tools/
    m3 = evaluate_3d(field, data)
    assert -1 <= m3["part_ari"] <= 1 and 0 <= m3["part_miou"] <= 100 and 0 < m3["click_miou"] <= 100


def test_eval_tool_prints_tables(capsys):
    mod = load_tool("eval_hierarchy")
    argv = "--seeds 0 --presets clean --tables 1 --views 2 --width 64 --height 48 --steps 5 --num-pixels 128".split()
    assert mod.main(argv) == 0
    text = capsys.readouterr().out
    for expected in ("| 2D masks only", "lambda = 0.5", "Command: `python tools/eval_hierarchy.py --seeds 0"):
        assert expected in text


def test_view_label_agreement_matches_ids_and_counts_pixels():
    from omniseg3d_mesh.evaluation import view_label_agreement

    gt = np.array([0, 0, 1, 1, 2, -1])  # vertex 5 is not annotated
    pred = np.array([7, 7, 3, 3, 3, 0])  # objects 1 and 2 merged into part 3; ids differ
    views = [np.array([[0, 1, 2], [3, -1, 5]]), np.array([[4, 4, 2], [0, 0, 0]])]
    # annotated pixels: view 0 -> vertices 0 1 2 3 (gt 0 0 1 1), view 1 -> 4 4 2 0 0 0 (gt 2 2 1 0 0 0)
    # part 7 <-> object 0 (5 pixels), part 3 <-> object 1 (3 pixels; object 2's 2 pixels lose)
    assert view_label_agreement(pred, gt, views) == pytest.approx(8 / 10)
    assert view_label_agreement(gt, gt, iter(views)) == pytest.approx(1.0)  # any iterable, read once
    with pytest.raises(ValueError, match="must both be"):
        view_label_agreement(pred[:3], gt, views)
