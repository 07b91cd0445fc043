"""The per-vertex feature field: load/save, scores.

A pixel's feature is the weighted sum of its vertices' features (see
:class:`~omniseg3d_mesh.render.fragments.Fragments`); after fitting, features are
unit length, so a score is a cosine similarity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .workspace import Workspace, atomic_save_npz

__all__ = ["Field", "load_field", "check_field_geometry"]

FIELD_VERSION = 1


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
        norms = np.linalg.norm(self.features, axis=1, keepdims=True)
        return self.features / np.maximum(norms, 1e-12)

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
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        s = q @ self.normalized().T
        return s[0] if single else s

    def save(self, path: str | Path) -> Path:
        """Write ``features`` and ``meta`` to an ``.npz`` atomically."""
        meta = dict(self.meta)
        meta.setdefault("field_version", FIELD_VERSION)
        return atomic_save_npz(path, features=self.features, meta=np.array(json.dumps(meta, default=str)))

    @classmethod
    def load(cls, path: str | Path) -> "Field":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no field file at {path}: run `omniseg-mesh fit` first or pass --workspace")
        with np.load(path, allow_pickle=False) as data:
            if "features" not in data:
                raise ValueError(f"{path} is not a field file: expected an array 'features', found {sorted(data.files)}")
            meta = json.loads(str(data["meta"])) if "meta" in data else {}
            return cls(features=data["features"], meta=meta)


def check_field_geometry(features: np.ndarray, vertices: np.ndarray) -> None:
    """Raise ValueError unless ``features`` [V, D] belongs to ``vertices`` [V, 3]."""
    if features.ndim != 2:
        raise ValueError(f"features must have shape (V, D), got {features.shape}")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {vertices.shape}")
    if len(features) != len(vertices):
        raise ValueError(
            f"features has {len(features)} rows but the geometry has {len(vertices)} vertices: "
            "the field was fitted on another mesh; re-run `omniseg-mesh fit` on this one"
        )


def load_field(workspace: str | Path | Workspace | None = None) -> Field:
    """The fitted field of a workspace (default: ``./omniseg``)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    return Field.load(ws.field_path)
