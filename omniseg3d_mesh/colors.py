"""Colours: the part palette, score heat maps and feature PCA colours.

The one home of every colour the package shows or writes, so a part has the same
colour in the viewer, in the rendered overlays and in the exported ``segmented.ply``:

* :func:`part_palette` / :func:`label_colors`: part id -> RGB (deterministic and
  independent of how many parts there are);
* :func:`score_colors`: a similarity score -> heat-map RGB;
* :func:`pca_colors`: the first three principal components of a field -> RGB.

All colours are ``uint8`` RGB.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["part_palette", "label_colors", "score_colors", "pca_colors", "BACKGROUND_GREY", "UNLABELLED_GREY"]

BACKGROUND_GREY = 96
"""Grey of pixels on no surface and of NaN scores in the rendered views."""

UNLABELLED_GREY = (128, 128, 128)
"""Default colour of unlabelled (-1) vertices in :func:`label_colors`."""


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(h.shape + (3,))
    for k, (r, g, b) in enumerate(choices):
        m = i == k
        out[m] = np.stack([r[m], g[m], b[m]], axis=1)
    return out


def part_palette(n: int) -> np.ndarray:
    """[n, 3] uint8 colours for part ids 0..n-1.

    Deterministic and independent of ``n``: part ``i`` has the same colour in every
    view, every run and every palette length (hues step by the golden ratio,
    saturation and value cycle, so neighbouring ids differ strongly).

    Raises:
        ValueError: ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"palette size must be >= 0, got {n}")
    i = np.arange(n)
    hue = (0.13 + i * 0.6180339887) % 1.0
    sat = np.array([0.85, 0.6, 0.75])[i % 3]
    val = np.array([0.95, 0.8, 0.65])[(i // 3) % 3]
    return np.round(_hsv_to_rgb(hue, sat, val) * 255).astype(np.uint8)


def label_colors(labels: np.ndarray, none_color: Any = UNLABELLED_GREY) -> np.ndarray:
    """[..., 3] uint8 colour of every label (:func:`part_palette`); -1 (none) -> ``none_color``.

    Args:
        labels: [...] int part ids, -1 = unlabelled.
        none_color: RGB of the unlabelled entries.
    """
    lab = np.asarray(labels)
    k = int(lab.max()) + 1 if lab.size and lab.max() >= 0 else 0
    pal = np.vstack([part_palette(k), np.asarray(none_color, np.uint8).reshape(1, 3)])
    return pal[np.where(lab >= 0, lab, k)]


_SCORE_STOPS = np.array(
    [[48, 18, 59], [40, 120, 230], [30, 210, 160], [200, 230, 40], [250, 120, 20], [180, 20, 10]], dtype=np.float64
)


def score_colors(
    scores: np.ndarray, lo: float = -1.0, hi: float = 1.0, none_color: Any = BACKGROUND_GREY
) -> np.ndarray:
    """[..., 3] uint8 heat-map colours of ``scores`` (dark blue at ``lo``, red at ``hi``).

    Args:
        scores: [...] float scores.
        lo, hi: the score range mapped onto the ramp (clipped outside).
        none_color: grey level or RGB of non-finite scores (NaN background, -inf excluded).
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.clip((s - lo) / max(hi - lo, 1e-12), 0, 1)
    t = np.where(np.isfinite(t), t, 0)
    pos = t * (len(_SCORE_STOPS) - 1)
    k = np.minimum(np.floor(pos).astype(int), len(_SCORE_STOPS) - 2)
    f = (pos - k)[..., None]
    rgb = _SCORE_STOPS[k] * (1 - f) + _SCORE_STOPS[k + 1] * f
    rgb[~np.isfinite(s)] = none_color
    return np.round(rgb).astype(np.uint8)


def pca_colors(features: np.ndarray, sample: int = 50000, seed: int = 0) -> np.ndarray:
    """[V, 3] uint8 colours from the first three principal components of ``features`` [V, D].

    Components are fitted on up to ``sample`` rows (fixed seed), each one's sign is
    fixed (largest loading positive) and its 1st-99th percentile range mapped to
    0..255, so the colours are deterministic and shared by every view.

    Raises:
        ValueError: ``features`` is not a non-empty [V, D] array.
    """
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or len(feats) == 0:
        raise ValueError(f"features must have shape (V, D) with V > 0, got {feats.shape}")
    rng = np.random.default_rng(seed)
    rows = feats if len(feats) <= sample else feats[rng.choice(len(feats), sample, replace=False)]
    mean = rows.mean(axis=0)
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
    comps = np.zeros((3, feats.shape[1]))
    comps[: min(3, len(vt))] = vt[:3]
    flip = np.sign(comps[np.arange(3), np.argmax(np.abs(comps), axis=1)])
    comps *= np.where(flip == 0, 1, flip)[:, None]
    proj = (feats - mean) @ comps.T
    lo, hi = np.percentile(proj, 1, axis=0), np.percentile(proj, 99, axis=0)
    scaled = (proj - lo) / np.maximum(hi - lo, 1e-12)
    return np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)
