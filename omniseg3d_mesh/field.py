"""The per-vertex feature field: load/save, scores, normalisation and smoothing.

A pixel's feature is the weighted sum of its vertices' features (see
:class:`~omniseg3d_mesh.render.fragments.Fragments`); after fitting, features are
unit length, so a score is a cosine similarity. :func:`normalize_features` is the
one L2 normalisation of features in the package and :func:`smooth_features` the one
(edge-aware) smoothing of a field over its vertex graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .workspace import atomic_save_npz, read_npz

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "Field",
    "NonFiniteFieldError",
    "check_field_geometry",
    "check_finite_features",
    "normalize_features",
    "smooth_features",
    "NORM_EPS",
]

FIELD_VERSION = 1
_REFIT = "re-run `omniseg-mesh fit` (a diverging fit gives NaN: lower --lr)"


NORM_EPS = 1e-12
"""Rows shorter than this are divided by it instead of their length, so zero rows stay zero."""


def normalize_features(features: Any, dtype: Any = np.float32) -> np.ndarray:
    """Unit-length rows (L2 over the last axis; zero rows stay zero).

    Args:
        features: [..., D] features.
        dtype: the dtype the rows are normalised in and returned as (default float32);
            None keeps the input's dtype.

    Returns:
        [..., D] contiguous array of ``dtype``.
    """
    f = np.asarray(features, dtype=dtype)
    return np.ascontiguousarray(f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), NORM_EPS))


def smooth_features(
    features: np.ndarray, adjacency: sp.csr_matrix, iterations: int = 2, margin: float = 0.1
) -> np.ndarray:
    """Edge-aware denoising of a field (used before over-segmentation and scoring).

    Each sweep adds to every vertex the features of the neighbours it agrees with
    (edge cosine at least the median edge cosine minus ``margin``), then renormalises.
    Noise shrinks like an average over the neighbourhood while part boundaries (edges
    well below the typical agreement) stay sharp.

    Args:
        features: [V, D] unit features.
        adjacency: [V, V] vertex graph (:func:`~omniseg3d_mesh.graph.vertex_graph`).
        iterations: sweeps (0 returns the normalised features).
        margin: how far below the median edge cosine a neighbour still counts as agreeing.

    Returns:
        [V, D] float32 unit features.
    """
    import scipy.sparse as sp

    from .graph import edge_arrays

    g = normalize_features(features)
    u, v = edge_arrays(adjacency)
    n = len(g)
    if len(u) == 0:
        return g
    for _ in range(int(iterations)):
        c = np.einsum("ij,ij->i", g[u], g[v])
        k = c >= float(np.median(c)) - margin
        w = sp.csr_matrix((np.ones(2 * int(k.sum()), np.float32), (np.r_[u[k], v[k]], np.r_[v[k], u[k]])), shape=(n, n))
        g = normalize_features(g + w @ g)
    return g


class NonFiniteFieldError(ValueError):
    """Features hold NaN or inf (a diverged fit): never written, never used."""


def check_finite_features(features: np.ndarray, where: str = "the field", fix: str = _REFIT) -> None:
    """Raise :class:`NonFiniteFieldError` unless every feature [V, D] is finite."""
    bad = ~np.isfinite(features).all(axis=1) if features.ndim == 2 else ~np.isfinite(features)
    if bad.any():
        ids = np.flatnonzero(bad)
        raise NonFiniteFieldError(
            f"{where}: {len(ids)} of {len(bad)} vertices have NaN or inf features (first ids {ids[:5].tolist()}); "
            f"the fit diverged. Fix: {fix}"
        )


@dataclass
class Field:
    """Per-vertex features of a scene.

    Attributes:
        features: [V, D] float32, unit length.
        meta: config, geometry hash, source mesh, version, ... (JSON-serialisable).
    """

    features: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = np.ascontiguousarray(self.features, dtype=np.float32)
        if self.features.ndim != 2:
            raise ValueError(f"features must have shape (V, D), got {self.features.shape}")

    @property
    def num_vertices(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def normalized(self) -> np.ndarray:
        """[V, D] unit-length features (zero rows stay zero)."""
        return normalize_features(self.features)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of every vertex to ``query``.

        Args:
            query: [D] or [Q, D] features.

        Returns:
            [V] (or [Q, V]) float32 in [-1, 1].
        """
        q = np.asarray(query, dtype=np.float32)
        single = q.ndim == 1
        q = np.atleast_2d(q)
        q = normalize_features(q)
        s = q @ self.normalized().T
        return s[0] if single else s

    def save(self, path: str | Path) -> Path:
        """Write ``features`` and ``meta`` to an ``.npz`` atomically; a non-finite field is refused."""
        check_finite_features(self.features, f"refusing to write {path}")
        meta = dict(self.meta)
        meta.setdefault("field_version", FIELD_VERSION)
        return atomic_save_npz(path, features=self.features, meta=np.array(json.dumps(meta, default=str)))

    @classmethod
    def load(cls, path: str | Path) -> Field:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no field file at {path}: run `omniseg-mesh fit` first or pass --workspace")
        data = read_npz(path, what="field file", fix=_REFIT)
        if "features" not in data:
            raise ValueError(f"{path} is not a field file: expected an array 'features', found {sorted(data)}")
        try:
            meta = json.loads(str(data["meta"])) if "meta" in data else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: the field's 'meta' is not valid JSON ({exc}); {_REFIT}") from None
        features = data["features"]
        if features.dtype.kind not in "fiu" or features.ndim != 2:
            raise ValueError(
                f"{path}: 'features' must be a [V, D] float array, found {features.dtype} {features.shape}; {_REFIT}"
            )
        check_finite_features(features, str(path))
        return cls(features=features, meta=meta)


def check_field_geometry(features: np.ndarray, vertices: np.ndarray) -> None:
    """Raise ValueError unless ``features`` [V, D] belongs to ``vertices`` [V, 3] and is finite."""
    if features.ndim != 2:
        raise ValueError(f"features must have shape (V, D), got {features.shape}")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {vertices.shape}")
    if len(features) != len(vertices):
        raise ValueError(
            f"features has {len(features)} rows but the geometry has {len(vertices)} vertices: "
            "the field was fitted on another mesh; re-run `omniseg-mesh fit` on this one"
        )
    check_finite_features(features, "the field")
