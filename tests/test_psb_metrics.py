"""The Princeton benchmark's metrics (Chen, Golovinskiy, Funkhouser 2009) on hand-computed cases."""

import numpy as np
import pytest

from omniseg3d_mesh.evaluation import (
    consistency_errors,
    cut_discrepancy,
    hamming_distance,
    rand_index_error,
    segmentation_metrics,
)

A = np.array([0, 0, 1, 1])
B = np.array([0, 0, 0, 1])


def test_rand_index_error_hand_made():
    # 6 pairs; (0,2), (1,2), (2,3) are together in one and apart in the other
    assert rand_index_error(A, B) == pytest.approx(0.5)
    assert rand_index_error(A, A + 7) == 0.0  # ids are arbitrary
    # weights: face 2 counts double -> pairs weigh w_i w_j; disagreeing: 2+2+2 of 1+2+1+2+1+2 = 9
    assert rand_index_error(A, B, np.array([1, 1, 2, 1.0])) == pytest.approx(6 / 9)


def test_rand_index_error_matches_pair_counting():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 30), rng.integers(0, 3, 30)
    w = rng.uniform(0.5, 2, 30)
    num = den = 0.0
    for i in range(30):
        for j in range(30):
            if i != j:
                den += w[i] * w[j]
                num += w[i] * w[j] * ((a[i] == a[j]) != (b[i] == b[j]))
    assert rand_index_error(a, b, w) == pytest.approx(num / den)


def test_consistency_errors_hand_made():
    # E(A,B,i) = 0, 0, 1/2, 1/2 (sum 1); E(B,A,i) = 1/3, 1/3, 2/3, 0 (sum 4/3)
    gce, lce = consistency_errors(A, B)
    assert gce == pytest.approx(1 / 4)
    assert lce == pytest.approx(0.5 / 4)
    # a refinement has no consistency error
    assert consistency_errors(np.array([0, 1, 2, 3]), A) == (0.0, 0.0)


def test_hamming_hand_made():
    hd, rm, rf = hamming_distance(A, B)  # seg = A, gt = B
    assert (rm, rf) == pytest.approx((0.25, 0.25))
    assert hd == pytest.approx(0.25)
    # one segment for everything: nothing missing, half false alarm
    hd, rm, rf = hamming_distance(np.zeros(4, int), A)
    assert (rm, rf) == pytest.approx((0.0, 0.5))


def _strip(n=6):
    """A flat strip of 2n triangles along x (x = 0..n), faces ordered left to right."""
    xs = np.arange(n + 1, dtype=float)
    v = np.concatenate([np.stack([xs, np.zeros_like(xs), 0 * xs], 1), np.stack([xs, np.ones_like(xs), 0 * xs], 1)])
    f = []
    for i in range(n):
        f += [[i, i + 1, n + 1 + i], [i + 1, n + 2 + i, n + 1 + i]]
    return v, np.array(f)


def test_cut_discrepancy_hand_made():
    v, f = _strip(6)
    left = (np.arange(12) >= 4).astype(int)  # cut along x = 2
    right = (np.arange(12) >= 8).astype(int)  # cut along x = 4
    assert cut_discrepancy(v, f, left, left) == 0.0
    cd = cut_discrepancy(v, f, left, right)
    # each cut is one interior diagonal-free vertical edge at x = 2 / x = 4 -> distance 2 each way
    cent = v[f].mean(1)
    radius = np.linalg.norm(cent - cent.mean(0), axis=1).mean()  # equal areas
    assert cd == pytest.approx((2 + 2) / radius)
    assert np.isnan(cut_discrepancy(v, f, left, np.zeros(12, int)))
    assert cut_discrepancy(v, f, np.zeros(12, int), np.zeros(12, int)) == 0.0


def test_segmentation_metrics_and_errors():
    v, f = _strip(3)
    seg = np.array([0, 0, 1, 1, 2, 2])
    m = segmentation_metrics(v, f, seg, seg)
    assert all(m[k] == 0.0 for k in m)
    with pytest.raises(ValueError, match="same faces"):
        rand_index_error(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="one value per face"):
        consistency_errors(A, B, np.ones(3))
