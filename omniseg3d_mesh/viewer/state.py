"""The viewer's controller: everything the buttons do, without any web framework.

:class:`ViewerState` holds the field, the geometry, the clicks of the object being
selected, the committed multi-selection groups, the threshold / hierarchy step, the
region-growing flag and the display mode. The web app (``viewer/app.py``) only maps
browser events onto its methods and sends :meth:`ViewerState.colors` back, so
everything the GUI can do is testable (and scriptable) here.

Responsiveness at ~1M vertices comes from caching: the unit features, the vertex
graph (CSR arrays), the PCA colours, the base colours of each mode and the scores of
the current clicks are computed once; a slider move recomputes only the threshold
mask and its region growing (one breadth-first search over the kept edges).
"""

from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..progress import ProgressCallback, report
from ..workspace import Workspace, atomic_directory, atomic_write_json

__all__ = [
    "DISPLAY_MODES",
    "ViewerClick",
    "HierarchyStep",
    "ViewerState",
    "label_palette",
    "heat_colors",
]

log = logging.getLogger(__name__)

DISPLAY_MODES: tuple[str, ...] = ("original", "pca", "scores", "selection", "parts")
"""original colours, feature PCA colours, score heat map of the current clicks,
selection (current object + multi-selection, each in its own colour), discovered parts."""

_GREY = np.array([180, 180, 180], np.uint8)
_NONE_COLOR = np.array([70, 70, 80], np.uint8)


@dataclass(frozen=True)
class ViewerClick:
    """One click of the viewer: a vertex id and whether it is positive (include) or negative."""

    vertex: int
    positive: bool = True


@dataclass
class HierarchyStep:
    """One step of a click's hierarchy (small -> big).

    Attributes:
        threshold: cosine-similarity threshold that selects this step.
        size: number of selected vertices at this threshold (with region growing).
        threshold_hi, threshold_lo: the range of thresholds giving (about) this step.
    """

    threshold: float
    size: int
    threshold_hi: float = 1.0
    threshold_lo: float = -1.0


@dataclass
class _Group:
    clicks: tuple[ViewerClick, ...]
    threshold: float
    grow: bool
    mask: np.ndarray  # [V] bool
    scores: np.ndarray  # [V] f32


def label_palette(n: int, seed: int = 0) -> np.ndarray:
    """[n, 3] uint8 distinct, saturated colours (golden-ratio hue walk, deterministic)."""
    out = np.zeros((max(n, 0), 3), np.uint8)
    golden = 0.618033988749895
    for i in range(n):
        h = (0.13 + seed * 0.37 + i * golden) % 1.0
        s = 0.75 if i % 2 == 0 else 0.55
        v = 0.95 if (i // 2) % 2 == 0 else 0.8
        out[i] = np.round(np.array(colorsys.hsv_to_rgb(h, s, v)) * 255).astype(np.uint8)
    return out


# anchors of a perceptual blue -> cyan -> green -> yellow -> red ramp
_HEAT_ANCHORS = np.array(
    [[48, 18, 59], [65, 105, 225], [27, 208, 213], [98, 252, 107], [210, 233, 53], [254, 155, 45], [217, 56, 6], [122, 4, 3]],
    np.float32,
)
_HEAT_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_HEAT_ANCHORS)), _HEAT_ANCHORS[:, c]) for c in range(3)], axis=1
).astype(np.uint8)


def heat_colors(values: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """[V, 3] uint8 heat-map colours of ``values`` [V] mapped from [lo, hi]; non-finite -> dark grey."""
    v = np.asarray(values, np.float32)
    finite = np.isfinite(v)
    idx = np.clip((np.where(finite, v, lo) - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    out = _HEAT_LUT[idx]
    out[~finite] = _NONE_COLOR
    return out


class ViewerState:
    """Viewer-independent controller holding the field, the geometry and the selection state.

    Args:
        features: [V, D] float field features (normalised here).
        vertices: [V, 3] float32 positions.
        faces: [F, 3] int triangles, or None for a point cloud.
        colors: [V, 3] uint8 original colours, or None (grey).
        cameras: input cameras (for the frusta), any sequence of ``scene.Camera``.
        workspace: where exports go (``Workspace`` or folder), optional.
        knn: neighbours per point of the point-cloud graph.
        min_step_change: hierarchy steps: relative growth in size needed for a new step.
        selector: an object with ``hierarchy(click)`` returning steps with
            ``threshold``/``size`` (e.g. ``select.Selector``); None = built in.

    Raises:
        ValueError: features and vertices disagree on the number of vertices.
    """

    def __init__(
        self,
        features: np.ndarray,
        vertices: np.ndarray,
        faces: np.ndarray | None = None,
        colors: np.ndarray | None = None,
        cameras: Sequence[Any] = (),
        workspace: Workspace | str | Path | None = None,
        knn: int = 8,
        min_step_change: float = 0.05,
        selector: Any = None,
    ):
        feats = np.asarray(features, np.float32)
        verts = np.asarray(vertices, np.float32)
        if feats.ndim != 2 or verts.ndim != 2 or verts.shape[1] != 3 or len(feats) != len(verts):
            raise ValueError(
                f"the field has features of shape {feats.shape} but the geometry has vertices of shape {verts.shape}: "
                "expected features [V, D] and vertices [V, 3] with the same V; was the field fitted on this mesh? "
                "Re-run `omniseg-mesh fit` on it"
            )
        if colors is not None and np.asarray(colors).shape != verts.shape:
            raise ValueError(
                f"colors must have shape {verts.shape} (one RGB per vertex), got {np.asarray(colors).shape}: "
                "pass colors=None for grey"
            )
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        self.features = np.ascontiguousarray(feats / np.maximum(norms, 1e-12))
        self.vertices = verts
        self.faces = None if faces is None or len(faces) == 0 else np.asarray(faces, np.int32)
        self.original = None if colors is None else np.asarray(colors, np.uint8)
        self.cameras = list(cameras)
        self.workspace = Workspace(workspace) if isinstance(workspace, (str, Path)) else workspace
        self.knn = int(knn)
        self.min_step_change = float(min_step_change)
        self.selector = selector

        # selection state
        self.clicks: list[ViewerClick] = []
        self.groups: list[_Group] = []
        self.threshold: float = 0.9
        self.step: int | None = None
        self.steps: list[HierarchyStep] = []
        self.grow: bool = True
        self.mode: str = "original" if self.original is not None else "pca"
        self.parts: np.ndarray | None = None  # [V] int32 labels (-1 none)
        self.parts_info: dict = {}

        # caches
        self._csr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # indptr, indices, row of each entry
        self._pca: np.ndarray | None = None
        self._scores_key: tuple | None = None
        self._scores: np.ndarray | None = None
        self._mask_key: tuple | None = None
        self._mask: np.ndarray | None = None
        self._base_dim: np.ndarray | None = None
        self._palette = label_palette(64)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_workspace(cls, workspace: Workspace | str | Path, **kwargs: Any) -> "ViewerState":
        """A controller over a fitted workspace (``field.npz`` + ``geometry.npz`` [+ ``cameras.json``]).

        Raises:
            FileNotFoundError: no field or no geometry in the workspace (with the fix).
        """
        from ..field import Field

        ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
        fld = Field.load(ws.field_path)
        geo = ws.load_geometry()
        cameras = _load_workspace_cameras(ws)
        state = cls(fld.features, geo["vertices"], geo["faces"], geo["colors"], cameras=cameras, workspace=ws, **kwargs)
        parts = ws.parts_dir / "labels.npy"
        if parts.is_file():
            labels = np.load(parts)
            if labels.shape == (len(state.vertices),):
                state.parts = labels.astype(np.int32)
        return state

    @property
    def num_vertices(self) -> int:
        return int(len(self.vertices))

    # ------------------------------------------------------------------ graph
    def _graph(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cached CSR arrays (indptr [V+1], indices [E], row of each entry [E]) of the vertex graph."""
        if self._csr is None:
            from ..graph import vertex_graph

            adj = vertex_graph(self.vertices, self.faces, knn=self.knn).tocsr()
            indptr = adj.indptr.astype(np.int64)
            indices = adj.indices.astype(np.int32)
            rows = np.repeat(np.arange(self.num_vertices, dtype=np.int32), np.diff(indptr))
            self._csr = (indptr, indices, rows)
        return self._csr

    def warm_up(self) -> None:
        """Build the caches a first click needs (vertex graph, PCA colours) ahead of time."""
        self._graph()
        self._pca_colors()

    def grow_from(self, mask: np.ndarray, seeds: Sequence[int]) -> np.ndarray:
        """The vertices of ``mask`` graph-connected to any seed (region growing).

        Args:
            mask: [V] bool candidate vertices.
            seeds: vertex ids; seeds outside ``mask`` are ignored.

        Returns:
            [V] bool.
        """
        import scipy.sparse as sp
        from scipy.sparse.csgraph import breadth_first_order

        mask = np.asarray(mask, bool)
        seeds = [int(s) for s in seeds if mask[int(s)]]
        out = np.zeros(self.num_vertices, bool)
        if not seeds:
            return out
        indptr, indices, rows = self._graph()
        keep = mask[indices]
        keep &= mask[rows]
        counts = np.bincount(rows[keep], minlength=self.num_vertices)
        sub_indptr = np.zeros(self.num_vertices + 1, np.int64)
        np.cumsum(counts, out=sub_indptr[1:])
        sub_indices = indices[keep]
        g = sp.csr_matrix((np.ones(len(sub_indices), np.int8), sub_indices, sub_indptr), shape=(self.num_vertices,) * 2)
        for s in seeds:
            if out[s]:
                continue
            order = breadth_first_order(g, s, directed=True, return_predecessors=False)
            out[order] = True
        return out

    # ------------------------------------------------------------------ scores and selection
    def scores(self, clicks: Sequence[ViewerClick] | None = None) -> np.ndarray:
        """[V] float32 score of every vertex for ``clicks`` (default: the current ones).

        Max cosine similarity over the positive clicks; vertices more similar to a
        negative click than to every positive one get -inf. No positive click: all -inf.
        """
        clicks = tuple(self.clicks if clicks is None else clicks)
        if clicks == self._scores_key and self._scores is not None:
            return self._scores
        pos = [c.vertex for c in clicks if c.positive]
        neg = [c.vertex for c in clicks if not c.positive]
        if not pos:
            s = np.full(self.num_vertices, -np.inf, np.float32)
        else:
            s = self._max_similarity(pos)
            if neg:
                s = np.where(self._max_similarity(neg) > s, np.float32(-np.inf), s)
        self._scores_key, self._scores = clicks, s
        return s

    def _max_similarity(self, vertex_ids: Sequence[int]) -> np.ndarray:
        q = self.features[np.asarray(vertex_ids, np.int64)]  # [Q, D]
        s = self.features @ q.T  # [V, Q]
        return s.max(axis=1).astype(np.float32) if s.shape[1] > 1 else s[:, 0].copy()

    def selection(self) -> np.ndarray:
        """[V] bool: the current object's selection (threshold, region growing, negatives)."""
        clicks = tuple(self.clicks)
        key = (clicks, round(float(self.threshold), 6), bool(self.grow))
        if key == self._mask_key and self._mask is not None:
            return self._mask
        s = self.scores()
        mask = s >= self.threshold
        pos = [c.vertex for c in clicks if c.positive]
        for v in pos:  # a positive click always selects its own vertex
            if np.isfinite(s[v]):
                mask[v] = True
        if self.grow and pos:
            mask = self.grow_from(mask, pos)
        self._mask_key, self._mask = key, mask
        return mask

    def labels(self) -> np.ndarray:
        """[V] int32 multi-selection labels: committed groups 0..G-1, the current object G, -1 none.

        Overlaps go to the group (or current object) with the higher score at the vertex.
        """
        lab = np.full(self.num_vertices, -1, np.int32)
        best = np.full(self.num_vertices, -np.inf, np.float32)
        entries = [(g.mask, g.scores) for g in self.groups]
        if any(c.positive for c in self.clicks):
            entries.append((self.selection(), self.scores()))
        for i, (mask, sc) in enumerate(entries):
            take = mask & (sc > best) if i else mask
            lab[take] = i
            best[take] = sc[take]
        return lab

    # ------------------------------------------------------------------ hierarchy
    def hierarchy(self, vertex: int) -> list[HierarchyStep]:
        """The hierarchy steps (small -> big) of a click at ``vertex``."""
        if self.selector is not None and hasattr(self.selector, "hierarchy"):
            try:
                raw = self.selector.hierarchy(_as_select_click(vertex))
                steps = [
                    HierarchyStep(
                        float(st.threshold), int(st.size), float(getattr(st, "threshold_hi", 1.0)), float(getattr(st, "threshold_lo", -1.0))
                    )
                    for st in raw
                ]
                if steps:
                    return steps
            except Exception as exc:  # pragma: no cover - a selector that cannot handle the click
                log.warning("selector hierarchy failed (%s); using the built-in steps", exc)
        return self._builtin_hierarchy(vertex)

    def _builtin_hierarchy(self, vertex: int) -> list[HierarchyStep]:
        """Steps from the gaps of the click's score distribution.

        A step is a plateau of the selected size as the threshold goes down: the
        thresholds sit in the score valleys (histogram bins holding almost no vertex);
        a new step must grow the (region-grown) selection by ``min_step_change``.
        """
        s = self.features @ self.features[int(vertex)]
        edges = np.linspace(-1.0, 1.0, 201)
        hist, _ = np.histogram(s, bins=edges)
        empty = hist <= max(1, int(2e-4 * len(s)))
        steps: list[HierarchyStep] = []
        last_size = 0
        i = len(hist) - 1
        while i >= 0:
            if not empty[i]:
                i -= 1
                continue
            j = i
            while j - 1 >= 0 and empty[j - 1]:
                j -= 1
            hi, lo = float(edges[i + 1]), float(edges[j])
            if j > 0 and i < len(hist) - 1 and (hist[: j].sum() > 0):  # a valley between occupied bins
                t = 0.5 * (hi + lo)
                mask = s >= t
                if self.grow:
                    mask = self.grow_from(mask, [vertex])
                size = int(mask.sum())
                if size > last_size * (1.0 + self.min_step_change):
                    steps.append(HierarchyStep(t, size, hi, lo))
                    last_size = size
            i = j - 1
        if not steps:
            steps.append(HierarchyStep(0.9, int((s >= 0.9).sum())))
        return steps

    # ------------------------------------------------------------------ button callbacks
    def click(self, vertex_id: int, positive: bool = True, add_group: bool = False, append: bool = False) -> np.ndarray:
        """A click at a vertex; returns the new colours.

        Args:
            vertex_id: the clicked vertex.
            positive: include (True) or exclude (False) what is similar to it.
            add_group: keep the current object as one of the multi-selection and start
                a new object with this click (shift-click).
            append: add the click to the current object instead of starting a new one
                (negative clicks always append).

        Raises:
            ValueError: vertex id out of range.
        """
        v = int(vertex_id)
        if not 0 <= v < self.num_vertices:
            raise ValueError(f"vertex id {v} is out of range: the mesh has {self.num_vertices} vertices (0..{self.num_vertices - 1})")
        c = ViewerClick(v, bool(positive))
        if add_group and any(k.positive for k in self.clicks):
            self.commit_group()
        if not positive:
            self.clicks.append(c)
        elif append or add_group and not self.clicks:
            self.clicks.append(c)
            if len([k for k in self.clicks if k.positive]) == 1:
                self._set_steps(v)
        else:
            self.clicks = [c]
            self._set_steps(v)
        if self.mode in ("original", "pca", "parts"):
            self.mode = "selection"
        return self.colors()

    def _set_steps(self, vertex: int) -> None:
        self.steps = self.hierarchy(vertex)
        self.step = 0
        self.threshold = self.steps[0].threshold

    def commit_group(self) -> None:
        """Freeze the current object into the multi-selection and start an empty one."""
        if not any(c.positive for c in self.clicks):
            return
        self.groups.append(_Group(tuple(self.clicks), self.threshold, self.grow, self.selection().copy(), self.scores().copy()))
        self.clicks = []

    def set_threshold(self, t: float) -> np.ndarray:
        """Set the similarity threshold (slider); the step becomes the one whose range holds it."""
        t = float(t)
        if not -1.0 <= t <= 1.0:
            raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {t}")
        self.threshold = t
        self.step = None
        for i, st in enumerate(self.steps):
            if st.threshold_lo <= t <= st.threshold_hi or abs(st.threshold - t) < 1e-6:
                self.step = i
                break
        return self.colors()

    def set_step(self, step: int) -> np.ndarray:
        """Go to hierarchy step ``step`` (0 = smallest) of the current click (clamped)."""
        if not self.steps:
            return self.colors()
        self.step = int(np.clip(step, 0, len(self.steps) - 1))
        self.threshold = self.steps[self.step].threshold
        return self.colors()

    def step_bigger(self) -> np.ndarray:
        """The next bigger hierarchy step (part -> object -> group)."""
        if self.step is None:  # after a slider move: the first step bigger than now
            size = int(self.selection().sum())
            nxt = next((i for i, st in enumerate(self.steps) if st.size > size), len(self.steps) - 1)
            return self.set_step(nxt)
        return self.set_step(self.step + 1)

    def step_smaller(self) -> np.ndarray:
        """The next smaller hierarchy step."""
        if self.step is None:
            size = int(self.selection().sum())
            prev = [i for i, st in enumerate(self.steps) if st.size < size]
            return self.set_step(prev[-1] if prev else 0)
        return self.set_step(self.step - 1)

    def set_grow(self, grow: bool) -> np.ndarray:
        """Region growing on/off (the click's hierarchy steps are recomputed, the step index kept)."""
        self.grow = bool(grow)
        pos = [c.vertex for c in self.clicks if c.positive]
        if pos:
            step = self.step
            self.steps = self.hierarchy(pos[0])
            if step is not None:
                return self.set_step(step)
        return self.colors()

    def set_mode(self, mode: str) -> np.ndarray:
        """Switch the display mode (one of :data:`DISPLAY_MODES`).

        Raises:
            ValueError: unknown mode.
        """
        if mode not in DISPLAY_MODES:
            raise ValueError(f"unknown display mode {mode!r}: expected one of {', '.join(DISPLAY_MODES)}")
        self.mode = mode
        return self.colors()

    def undo(self) -> np.ndarray:
        """Remove the last click (or, with none left, reopen the last committed group)."""
        if self.clicks:
            self.clicks.pop()
        elif self.groups:
            g = self.groups.pop()
            self.clicks, self.threshold, self.grow = list(g.clicks), g.threshold, g.grow
        return self.colors()

    def clear(self) -> np.ndarray:
        """Forget all clicks and groups (the parts stay)."""
        self.clicks, self.groups, self.steps, self.step = [], [], [], None
        if self.mode in ("selection", "scores"):
            self.mode = "original" if self.original is not None else "pca"
        return self.colors()

    def discretize(self, level: int = 0, min_part_size: int = 50, progress: ProgressCallback | None = None, **config: Any) -> np.ndarray:
        """Cut the scene into parts and show them; returns the colours.

        Uses ``discretize.Discretizer`` when present, else a built-in cut (graph
        components of edges whose features agree, small ones dropped).
        """
        if level < 0 or min_part_size < 1:
            raise ValueError(f"discretize needs level >= 0 and min_part_size >= 1, got level={level}, min_part_size={min_part_size}")
        report(progress, "discretize", 0, 1)
        try:
            from ..discretize import Discretizer  # type: ignore[attr-defined]
        except ImportError:
            Discretizer = None
        if Discretizer is not None:
            d = Discretizer(level=int(level), min_part_size=int(min_part_size), **config).fit(self.features, self.vertices, self.faces)
            labels = np.asarray(d.labels_, np.int32)
            parents = getattr(d, "parents_", None)
            self.parts_info = {"level": int(level), "min_part_size": int(min_part_size), "parents": parents, "method": "hdbscan"}
        else:
            labels = self._builtin_parts(level, min_part_size)
            self.parts_info = {"level": int(level), "min_part_size": int(min_part_size), "parents": None, "method": "graph"}
        self.parts = labels
        self.mode = "parts"
        report(progress, "discretize", 1, 1, parts=int(labels.max()) + 1 if len(labels) else 0)
        return self.colors()

    def _builtin_parts(self, level: int, min_part_size: int) -> np.ndarray:
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components

        indptr, indices, rows = self._graph()
        sim_threshold = {0: 0.9, 1: 0.7}.get(int(level), 0.5)
        sim = np.einsum("ed,ed->e", self.features[rows], self.features[indices])
        keep = sim >= sim_threshold
        g = sp.csr_matrix((np.ones(int(keep.sum()), np.int8), (rows[keep], indices[keep])), shape=(self.num_vertices,) * 2)
        _, comp = connected_components(g, directed=False)
        sizes = np.bincount(comp)
        big = np.flatnonzero(sizes >= min_part_size)
        remap = np.full(len(sizes), -1, np.int32)
        remap[big[np.argsort(-sizes[big], kind="stable")]] = np.arange(len(big), dtype=np.int32)
        return remap[comp]

    # ------------------------------------------------------------------ export
    def export_selection(self, out_dir: str | Path | None = None) -> dict:
        """Write the current selection (and multi-selection groups) as files; returns the manifest.

        Default folder: ``<workspace>/selection``.

        Raises:
            ValueError: nothing selected.
        """
        labels = self.labels()
        if not (labels >= 0).any():
            raise ValueError("nothing is selected: click on the mesh first, then export the selection")
        out = self._out_dir(out_dir, "selection")
        try:
            from ..io.export import export_selection  # type: ignore[attr-defined]
        except ImportError:
            export_selection = None
        if export_selection is not None:
            return export_selection(out, self.vertices, self.faces, self.original, labels)
        return _write_labels_folder(out, labels, self.vertices, self.faces, self.original, kind="selection",
                                    extra={"groups": [[(c.vertex, c.positive) for c in g.clicks] for g in self.groups]
                                           + ([[(c.vertex, c.positive) for c in self.clicks]] if self.clicks else [])})

    def export_parts(self, out_dir: str | Path | None = None, format: str = "ply") -> dict:
        """Write the discovered parts (after :meth:`discretize`) as files; returns the manifest.

        Default folder: ``<workspace>/parts``.

        Raises:
            ValueError: no parts yet.
        """
        if self.parts is None:
            raise ValueError("no parts to export: run discretize first (the Discretize panel's Run button)")
        out = self._out_dir(out_dir, "parts")
        try:
            from ..io.export import export_parts  # type: ignore[attr-defined]
        except ImportError:
            export_parts = None
        if export_parts is not None:
            return export_parts(out, self.vertices, self.faces, self.original, self.parts,
                                parents=self.parts_info.get("parents"), format=format)
        return _write_labels_folder(out, self.parts, self.vertices, self.faces, self.original, kind="parts",
                                    extra={k: v for k, v in self.parts_info.items() if k != "parents"})

    def _out_dir(self, out_dir: str | Path | None, name: str) -> Path:
        if out_dir is not None:
            return Path(out_dir)
        if self.workspace is None:
            raise ValueError(f"no output folder: pass one, or open the viewer on a workspace (exports go to <workspace>/{name})")
        return self.workspace.root / name

    # ------------------------------------------------------------------ picking
    def pick(self, ray_origin: Sequence[float], ray_direction: Sequence[float], max_distance: float | None = None) -> int | None:
        """The vertex a click ray hits: mesh -> nearest vertex of the hit triangle;
        point cloud -> the nearest point to the ray (within ``max_distance``,
        default 2% of the scene size) closest to the camera. None when nothing is hit.
        """
        o = np.asarray(ray_origin, np.float64).reshape(3)
        d = np.asarray(ray_direction, np.float64).reshape(3)
        d = d / max(np.linalg.norm(d), 1e-12)
        if self.faces is not None:
            from ..render.raycast import cast_rays
            from ..scene import Scene

            if getattr(self, "_rc_scene", None) is None:
                self._rc_scene = Scene(vertices=self.vertices, faces=self.faces, cameras=[])
            t, face, uv = cast_rays(self._rc_scene, o[None].astype(np.float32), d[None].astype(np.float32))
            if face[0] < 0:
                return None
            tri = self.faces[face[0]]
            hit = o + float(t[0]) * d
            return int(tri[np.argmin(np.linalg.norm(self.vertices[tri] - hit, axis=1))])
        rel = self.vertices - o.astype(np.float32)
        along = rel @ d.astype(np.float32)
        perp = np.linalg.norm(rel - along[:, None] * d.astype(np.float32), axis=1)
        tol = max_distance if max_distance is not None else 0.02 * float(np.ptp(self.vertices, axis=0).max() or 1.0)
        ok = (along > 0) & (perp <= tol)
        if not ok.any():
            return None
        idx = np.flatnonzero(ok)
        # nearest to the camera among points within tolerance, preferring the ones closest to the ray
        score = along[idx] + 5.0 * perp[idx]
        return int(idx[np.argmin(score)])

    # ------------------------------------------------------------------ colours
    def colors(self, mode: str | None = None) -> np.ndarray:
        """[V, 3] uint8 vertex colours of the display mode (default: the current one)."""
        mode = self.mode if mode is None else mode
        if mode == "original":
            return self._original_colors()
        if mode == "pca":
            return self._pca_colors()
        if mode == "scores":
            if not any(c.positive for c in self.clicks):
                return self._dimmed()
            return heat_colors(self.scores(), lo=min(0.0, float(self.threshold)), hi=1.0)
        if mode == "selection":
            out = self._dimmed().copy()
            lab = self.labels()
            sel = lab >= 0
            out[sel] = self._group_colors(len(self.groups) + 1)[lab[sel]]
            return out
        if mode == "parts":
            if self.parts is None:
                return self._dimmed()
            out = np.empty((self.num_vertices, 3), np.uint8)
            out[:] = _NONE_COLOR
            ok = self.parts >= 0
            out[ok] = self._group_colors(int(self.parts.max()) + 1)[self.parts[ok]]
            return out
        raise ValueError(f"unknown display mode {mode!r}: expected one of {', '.join(DISPLAY_MODES)}")

    def group_color(self, index: int) -> tuple[int, int, int]:
        """The RGB colour of multi-selection group ``index`` (the current object is ``len(groups)``)."""
        return tuple(int(c) for c in self._group_colors(index + 1)[index])  # type: ignore[return-value]

    def _group_colors(self, n: int) -> np.ndarray:
        if n > len(self._palette):
            self._palette = label_palette(max(n, 2 * len(self._palette)))
        return self._palette

    def _original_colors(self) -> np.ndarray:
        if self.original is not None:
            return self.original
        return np.broadcast_to(_GREY, (self.num_vertices, 3))

    def _dimmed(self) -> np.ndarray:
        if self._base_dim is None:
            base = self._original_colors().astype(np.uint16)
            grey = base.mean(axis=1, keepdims=True)
            self._base_dim = ((grey * 0.6 + 60)).astype(np.uint8).repeat(3, axis=1)
        return self._base_dim

    def _pca_colors(self) -> np.ndarray:
        if self._pca is None:
            f = self.features
            rng = np.random.default_rng(0)
            sample = f if len(f) <= 100_000 else f[rng.choice(len(f), 100_000, replace=False)]
            mean = sample.mean(axis=0)
            _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
            basis = vt[: min(3, vt.shape[0])].T  # [D, 3]
            proj = (sample - mean) @ basis
            lo, hi = np.percentile(proj, 1, axis=0), np.percentile(proj, 99, axis=0)
            full = (f - mean) @ basis
            full = np.clip((full - lo) / np.maximum(hi - lo, 1e-6), 0, 1)
            if full.shape[1] < 3:
                full = np.concatenate([full, np.full((len(f), 3 - full.shape[1]), 0.5, np.float32)], axis=1)
            self._pca = (full * 255).astype(np.uint8)
        return self._pca

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        """A small summary for the GUI: clicks, groups, threshold, step, selected count."""
        selected = int((self.labels() >= 0).sum()) if (self.clicks or self.groups) else 0
        return {
            "clicks": len(self.clicks),
            "negatives": sum(not c.positive for c in self.clicks),
            "groups": len(self.groups),
            "threshold": float(self.threshold),
            "step": self.step,
            "steps": len(self.steps),
            "selected": selected,
            "mode": self.mode,
            "parts": None if self.parts is None else int(self.parts.max()) + 1,
        }


# ---------------------------------------------------------------------- helpers
def _as_select_click(vertex: int) -> Any:
    try:
        from ..select import Click  # type: ignore[attr-defined]

        return Click(kind="vertex", positive=True, vertex=int(vertex))
    except ImportError:  # pragma: no cover
        return int(vertex)


def _load_workspace_cameras(ws: Workspace) -> list:
    if not ws.cameras_path.is_file():
        return []
    try:
        from ..io.cameras_json import load_cameras_json  # type: ignore[attr-defined]
    except ImportError:
        log.info("io.cameras_json is not available: no camera frusta")
        return []
    try:
        return list(load_cameras_json(ws.cameras_path))
    except (ValueError, KeyError) as exc:
        log.warning("could not read %s (%s): no camera frusta", ws.cameras_path, exc)
        return []


def _write_labels_folder(
    out: Path, labels: np.ndarray, vertices: np.ndarray, faces: np.ndarray | None, colors: np.ndarray | None, kind: str, extra: dict
) -> dict:
    """Fallback writer used until ``io/export.py`` is present: labels.npy, a coloured PLY, manifest.json."""
    import trimesh

    pal = label_palette(int(labels.max()) + 1 if len(labels) else 0)
    vc = np.empty((len(labels), 3), np.uint8)
    vc[:] = _NONE_COLOR
    vc[labels >= 0] = pal[labels[labels >= 0]]
    with atomic_directory(out) as tmp:
        np.save(tmp / "labels.npy", labels.astype(np.int32))
        geom = trimesh.Trimesh(vertices, faces, vertex_colors=vc, process=False) if faces is not None else trimesh.PointCloud(vertices, colors=vc)
        geom.export(tmp / f"{kind}_colored.ply")
        ids, counts = np.unique(labels[labels >= 0], return_counts=True)
        manifest = {
            "kind": kind,
            "num_vertices": int(len(labels)),
            "labels": "labels.npy",
            "colored": f"{kind}_colored.ply",
            "parts": [{"id": int(i), "num_vertices": int(n)} for i, n in zip(ids, counts)],
            **extra,
        }
        atomic_write_json(tmp / "manifest.json", manifest)
    manifest["out_dir"] = str(out)
    return manifest
