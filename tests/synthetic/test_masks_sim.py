"""The SAM-like mask simulator: determinism, presets from clean to hard."""

from __future__ import annotations

import numpy as np
import pytest

from omniseg3d_mesh.render.fragments import compute_fragments
from omniseg3d_mesh.synthetic.masks import MaskSimConfig, gt_label_maps, simulate_masks, with_overrides
from omniseg3d_mesh.synthetic.scenes import make_scene


@pytest.fixture(scope="module")
def data():
    syn = make_scene("small", seed=1, num_views=5, width=96, height=72)
    frags = {c.name: compute_fragments(syn.scene, c, "cpu") for c in syn.scene.cameras}
    return syn, frags


def _exact_fraction(syn, frags, masks):
    """Share of proposals equal (IoU >= 0.98) to some ground-truth part/object/group mask."""
    good = total = 0
    for view, stack in masks.items():
        maps = gt_label_maps(syn, frags[view])
        gts = [maps[lv] == i for lv in maps for i in np.unique(maps[lv][maps[lv] >= 0])]
        for m in stack:
            total += 1
            good += any((m & g).sum() / max((m | g).sum(), 1) >= 0.98 for g in gts)
    return good / max(total, 1)


def test_deterministic(data):
    syn, frags = data
    a = simulate_masks(syn, frags, "hard", seed=7)
    b = simulate_masks(syn, frags, "hard", seed=7)
    assert list(a) == list(frags)
    for v in a:
        np.testing.assert_array_equal(a[v], b[v])
        assert a[v].dtype == bool and a[v].shape[1:] == (72, 96)


def test_clean_is_exact_and_hard_is_not(data):
    syn, frags = data
    clean = simulate_masks(syn, frags, "clean", seed=0)
    hard = simulate_masks(syn, frags, "hard", seed=0)
    medium = simulate_masks(syn, frags, "medium", seed=0)
    f_clean, f_med, f_hard = (_exact_fraction(syn, frags, m) for m in (clean, medium, hard))
    assert f_clean == 1.0
    assert f_hard < f_med < f_clean
    assert f_hard < 0.75


def test_clean_proposes_every_visible_part(data):
    syn, frags = data
    clean = simulate_masks(syn, frags, "clean", seed=0)
    view = next(iter(frags))
    maps = gt_label_maps(syn, frags[view])
    h, w = maps["part"].shape
    for p, area in zip(*np.unique(maps["part"][maps["part"] >= 0], return_counts=True)):
        if area >= max(16, 0.001 * h * w) and not syn.stuff[syn.part_object[p]]:
            assert any(np.array_equal(m, maps["part"] == p) for m in clean[view])


def test_tiny_masks_dropped(data):
    syn, frags = data
    cfg = MaskSimConfig(min_area=0.02)
    out = simulate_masks(syn, frags, cfg, seed=0)
    assert all(m.sum() >= 0.02 * 72 * 96 for stack in out.values() for m in stack)


def test_bad_preset(data):
    syn, frags = data
    with pytest.raises(ValueError, match="unknown mask simulator preset 'wild'"):
        simulate_masks(syn, frags, "wild")
    with pytest.raises(ValueError, match="unknown MaskSimConfig field"):
        with_overrides("hard", p_nothing=1.0)
    assert with_overrides("hard", p_merge=0.0).p_merge == 0.0
