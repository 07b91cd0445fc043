"""The viewer's controller: everything the buttons do, without any web framework.

:class:`ViewerState` holds the field, the geometry, the clicks of the object being
selected, the committed multi-selection groups, the threshold / hierarchy step, the
region-growing flag and the display mode. The web app (``viewer/app.py``) only maps
browser events onto its methods and sends :meth:`ViewerState.colors` back, so
everything the GUI can do is testable (and scriptable) here.

Scores, region growing and the hierarchy steps come from :class:`~omniseg3d_mesh.select.Selector`
(its vertex graph, gated breadth-first search and superpoints are built once); parts
from :class:`~omniseg3d_mesh.discretize.Discretizer` (kept, so another level is a cut
of its tree, not a new fit). Responsiveness at ~1M vertices comes from caching: the
PCA colours, the dimmed base colours, the scores of the current clicks and the
selection are computed once per change; a slider move recomputes only the threshold
mask and its region growing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..colors import label_colors, part_palette, pca_colors, score_colors
from ..config import SelectConfig
from ..field import normalize_features
from ..progress import ProgressCallback, report
from ..select import Click, Selector
from ..workspace import Workspace

__all__ = [
    "DISPLAY_MODES",
    "ViewerClick",
    "HierarchyStep",
    "ViewerState",
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
        config: selection settings (hierarchy step detection), default ``SelectConfig()``.
        selector: a ready :class:`~omniseg3d_mesh.select.Selector` over the same
            geometry (None: one is built here).

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
        config: SelectConfig | None = None,
        selector: Selector | None = None,
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
        self.features = normalize_features(feats)
        self.vertices = verts
        self.faces = None if faces is None or len(faces) == 0 else np.asarray(faces, np.int32)
        self.original = None if colors is None else np.asarray(colors, np.uint8)
        self.cameras = list(cameras)
        self.workspace = Workspace(workspace) if isinstance(workspace, (str, Path)) else workspace
        self.knn = int(knn)
        self.config = config or (selector.config if selector is not None else SelectConfig())
        self.selector = selector or Selector(self.features, verts, self.faces, knn=self.knn, config=self.config)
        if self.selector.features.shape == self.features.shape:
            self.features = self.selector.features  # one copy of the unit features, shared
        self.discretizer: Any = None  # the last fitted Discretizer (its tree gives the other levels)
        self._discretizer_key: tuple | None = None  # the parameters it was fitted with

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
        self._pca: np.ndarray | None = None
        self._scores_key: tuple | None = None
        self._scores: np.ndarray | None = None
        self._mask_key: tuple | None = None
        self._mask: np.ndarray | None = None
        self._base_dim: np.ndarray | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_workspace(
        cls, workspace: Workspace | str | Path, parts_dir: str | Path | None = None, **kwargs: Any
    ) -> ViewerState:
        """A controller over a fitted workspace (``field.npz`` + ``geometry.npz`` [+ ``cameras.json``]).

        Parts shown in the *parts* mode come from ``parts_dir`` (default: where
        ``discretize`` last wrote for this workspace, else ``<workspace>/parts``);
        ``parts_info["source"]`` says which folder.

        Raises:
            FileNotFoundError: no field or no geometry in the workspace (with the fix);
                ``parts_dir`` given but without ``labels.npy``.
            ValueError: the parts belong to another geometry.
        """
        from ..pipeline import exported_part_labels, load_workspace, open_selector

        loaded = load_workspace(workspace)
        sel = open_selector(loaded, knn=kwargs.pop("knn", 8), config=kwargs.pop("config", None))
        state = cls(
            sel.features,
            sel.vertices,
            sel.faces,
            sel.colors,
            cameras=list(sel.cameras.values()),
            workspace=loaded.workspace,
            knn=sel.config.knn,
            selector=sel,
            **kwargs,
        )
        labels, folder = exported_part_labels(loaded.workspace, state.num_vertices, parts_dir)
        if labels is not None:
            state.parts = labels
            state.parts_info = {"source": str(folder)}
        return state

    @property
    def num_vertices(self) -> int:
        return int(len(self.vertices))

    def warm_up(self) -> None:
        """Build the caches a first click needs (vertex graph, superpoints, PCA colours) ahead of time."""
        self.selector.prepare(hierarchy=True)
        self._pca_colors()

    # ------------------------------------------------------------------ scores and selection
    def scores(self, clicks: Sequence[ViewerClick] | None = None) -> np.ndarray:
        """[V] float32 score of every vertex for ``clicks`` (default: the current ones).

        Max cosine similarity over the positive clicks; vertices more similar to a
        negative click than to every positive one get -inf. No positive click: all -inf.
        """
        clicks = tuple(self.clicks if clicks is None else clicks)
        if clicks == self._scores_key and self._scores is not None:
            return self._scores
        if not any(c.positive for c in clicks):
            s = np.full(self.num_vertices, -np.inf, np.float32)
        else:
            s = self.selector.scores(_to_select_clicks(clicks)).astype(np.float32, copy=False)
        self._scores_key, self._scores = clicks, s
        return s

    def selection(self) -> np.ndarray:
        """[V] bool: the current object's selection (threshold, region growing, negatives)."""
        clicks = tuple(self.clicks)
        key = (clicks, round(float(self.threshold), 6), bool(self.grow))
        if key == self._mask_key and self._mask is not None:
            return self._mask
        if any(c.positive for c in clicks):
            mask = self.selector.select(_to_select_clicks(clicks), float(self.threshold), grow=self.grow)
        else:
            mask = np.zeros(self.num_vertices, bool)
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
    def hierarchy(self, clicks: Sequence[ViewerClick] | None = None) -> list[HierarchyStep]:
        """The hierarchy steps (small -> big) of ``clicks`` (default: the current object's).

        :meth:`Selector.hierarchy` with the current region-growing setting (treads of
        the grown size staircase; without growing, the valleys of the score distribution).
        """
        clicks = tuple(self.clicks if clicks is None else clicks)
        if not any(c.positive for c in clicks):
            return []
        steps = [
            HierarchyStep(st.threshold, st.approx_size, st.threshold_hi, st.threshold_lo)
            for st in self.selector.hierarchy(_to_select_clicks(clicks), grow=self.grow)
        ]
        return steps or [HierarchyStep(float(self.threshold), 0)]

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
            raise ValueError(
                f"vertex id {v} is out of range: the mesh has {self.num_vertices} vertices (0..{self.num_vertices - 1})"
            )
        c = ViewerClick(v, bool(positive))
        if add_group and any(k.positive for k in self.clicks):
            self.commit_group()
        fresh = positive and not append and not (add_group and not self.clicks)
        if fresh:
            self.clicks = [c]
        else:
            self.clicks.append(c)
        self._update_steps(new_object=fresh or len(self.clicks) == 1)
        if self.mode in ("original", "pca", "parts"):
            self.mode = "selection"
        return self.colors()

    def _update_steps(self, new_object: bool) -> None:
        """Recompute the steps of the current clicks; a new object starts at step 0, else the
        threshold stays and the step becomes the one holding it."""
        self.steps = self.hierarchy()
        if not self.steps:
            self.step = None
            return
        if new_object:
            self.step, self.threshold = 0, self.steps[0].threshold
        else:
            self.step = self._step_of(self.threshold)

    def _step_of(self, t: float) -> int | None:
        for i, st in enumerate(self.steps):
            if st.threshold_lo <= t <= st.threshold_hi or abs(st.threshold - t) < 1e-6:
                return i
        return None

    def commit_group(self) -> None:
        """Freeze the current object into the multi-selection and start an empty one."""
        if not any(c.positive for c in self.clicks):
            return
        self.groups.append(
            _Group(tuple(self.clicks), self.threshold, self.grow, self.selection().copy(), self.scores().copy())
        )
        self.clicks = []

    def set_threshold(self, t: float) -> np.ndarray:
        """Set the similarity threshold (slider); the step becomes the one whose range holds it."""
        t = float(t)
        if not -1.0 <= t <= 1.0:
            raise ValueError(f"threshold must be a cosine similarity in [-1, 1], got {t}")
        self.threshold = t
        self.step = self._step_of(t)
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
        if any(c.positive for c in self.clicks):
            step = self.step
            self.steps = self.hierarchy()
            if step is not None:
                return self.set_step(step)
            self.step = self._step_of(self.threshold)
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
        self.steps = self.hierarchy()
        self.step = self._step_of(self.threshold) if self.steps else None
        return self.colors()

    def clear(self) -> np.ndarray:
        """Forget all clicks and groups (the parts stay)."""
        self.clicks, self.groups, self.steps, self.step = [], [], [], None
        if self.mode in ("selection", "scores"):
            self.mode = "original" if self.original is not None else "pca"
        return self.colors()

    def discretize(
        self, level: int = 0, min_part_size: int = 50, progress: ProgressCallback | None = None, **config: Any
    ) -> np.ndarray:
        """Cut the scene into parts at ``level`` (0 = finest) and show them; returns the colours.

        The fitted :class:`~omniseg3d_mesh.discretize.Discretizer` is kept: asking for
        another level with the same settings cuts its part tree instead of refitting.
        ``config``: more ``Discretizer`` arguments (``min_cluster_size``, ...).

        Raises:
            ValueError: a negative level, a part size below 1, or a level the tree does not have.
        """
        from ..discretize import Discretizer

        if level < 0 or min_part_size < 1:
            raise ValueError(
                f"discretize needs level >= 0 and min_part_size >= 1, got level={level}, min_part_size={min_part_size}"
            )
        key = (int(min_part_size), tuple(sorted(config.items())))
        d = self.discretizer
        if d is None or self._discretizer_key != key:
            d = Discretizer(level=0, min_part_size=int(min_part_size), knn=self.knn, **config)
            # the graph `discretize` cuts (touching pieces not bridged), not the selector's bridged one
            d.fit(self.features, self.vertices, self.faces, progress=progress)
            self.discretizer, self._discretizer_key = d, key
        tree = d.tree_
        if level >= tree.num_levels:
            raise ValueError(
                f"the part tree has levels 0..{tree.num_levels - 1}, got level {level}: choose a smaller level"
            )
        self.parts = np.asarray(tree.cut(int(level)), np.int32)
        self.parts_info = {
            "level": int(level),
            "min_part_size": int(min_part_size),
            "parents": np.asarray(tree.parents(int(level))),
            "num_levels": int(tree.num_levels),
        }
        self.mode = "parts"
        report(progress, "discretize", 1, 1, parts=int(self.parts.max()) + 1 if len(self.parts) else 0)
        return self.colors()

    # ------------------------------------------------------------------ export
    def export_selection(self, path: str | Path | None = None, format: str = "ply") -> dict:
        """Write the selection the way ``omniseg-mesh select --out`` does; returns its manifest.

        The union of all objects goes to ``path`` (default ``<workspace>/selection.<format>``)
        with its mask in ``<stem>.mask.npy``; with several objects (multi-selection) each
        object is also written as a part, into ``<stem>_objects/`` (as ``discretize`` writes parts).

        Raises:
            ValueError: nothing selected, or no path and no workspace.
        """
        labels = self.labels()
        if not (labels >= 0).any():
            raise ValueError("nothing is selected: click on the mesh first, then export the selection")
        path = Path(path) if path is not None else self._out_dir(None, f"selection.{format}")
        from ..io.export import export_parts, export_selection

        result = export_selection(path, self.vertices, self.faces, self.original, labels >= 0)
        if int(labels.max()) > 0:
            objects = path.with_name(path.stem + "_objects")
            export_parts(
                objects,
                self.vertices,
                self.faces,
                self.original,
                labels,
                format=format,
                extra={"source": "viewer multi-selection", "clicks": self._click_record()},
            )
            result["objects"] = str(objects)
        return result

    def export_parts(self, out_dir: str | Path | None = None, format: str = "ply") -> dict:
        """Write the discovered parts (after :meth:`discretize`) the way ``omniseg-mesh
        discretize`` does (default ``<workspace>/parts``); returns the manifest.

        Raises:
            ValueError: no parts yet.
        """
        if self.parts is None:
            raise ValueError("no parts to export: run discretize first (the Discretize panel's Run button)")
        out = Path(out_dir) if out_dir is not None else self._out_dir(None, "parts")
        from ..io.export import export_parts

        info = self.parts_info
        level_labels = None
        if self.discretizer is not None:
            tree = self.discretizer.tree_
            level_labels = np.stack([tree.cut(lv) for lv in range(tree.num_levels)])
        manifest = export_parts(
            out,
            self.vertices,
            self.faces,
            self.original,
            self.parts,
            parents=info.get("parents"),
            levels=info.get("level", 0),
            format=format,
            level_labels=level_labels,
            extra={"source": "viewer", "min_part_size": info.get("min_part_size")},
        )
        manifest["out"] = str(out)
        return manifest

    def _click_record(self) -> list[list[str]]:
        groups = [list(g.clicks) for g in self.groups] + ([list(self.clicks)] if self.clicks else [])
        return [[("" if c.positive else "-") + f"v:{c.vertex}" for c in g] for g in groups]

    def _out_dir(self, out_dir: str | Path | None, name: str) -> Path:
        if out_dir is not None:
            return Path(out_dir)
        if self.workspace is None:
            raise ValueError(
                f"no output folder: pass one, or open the viewer on a workspace (exports go to <workspace>/{name})"
            )
        return self.workspace.root / name

    # ------------------------------------------------------------------ picking
    def pick(
        self, ray_origin: Sequence[float], ray_direction: Sequence[float], max_distance: float | None = None
    ) -> int | None:
        """The vertex a click ray hits: mesh -> nearest vertex of the hit triangle;
        point cloud -> the nearest point to the ray (within ``max_distance``,
        default 2% of the scene size) closest to the camera. None when nothing is hit.
        """
        o = np.asarray(ray_origin, np.float64).reshape(3)
        d = np.asarray(ray_direction, np.float64).reshape(3)
        d = d / max(float(np.linalg.norm(d)), 1e-12)
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
            return score_colors(self.scores(), lo=min(0.0, float(self.threshold)), hi=1.0, none_color=_NONE_COLOR)
        if mode == "selection":
            out = self._dimmed().copy()
            lab = self.labels()
            sel = lab >= 0
            out[sel] = part_palette(len(self.groups) + 1)[lab[sel]]
            return out
        if mode == "parts":
            if self.parts is None:
                return self._dimmed()
            return label_colors(self.parts, none_color=_NONE_COLOR)
        raise ValueError(f"unknown display mode {mode!r}: expected one of {', '.join(DISPLAY_MODES)}")

    def group_color(self, index: int) -> tuple[int, int, int]:
        """The RGB colour of multi-selection group ``index`` (the current object is ``len(groups)``)."""
        return tuple(int(c) for c in part_palette(index + 1)[index])  # type: ignore[return-value]

    def _original_colors(self) -> np.ndarray:
        if self.original is not None:
            return self.original
        return np.broadcast_to(_GREY, (self.num_vertices, 3))

    def _dimmed(self) -> np.ndarray:
        if self._base_dim is None:
            base = self._original_colors().astype(np.uint16)
            grey = base.mean(axis=1, keepdims=True)
            self._base_dim = (grey * 0.6 + 60).astype(np.uint8).repeat(3, axis=1)
        return self._base_dim

    def _pca_colors(self) -> np.ndarray:
        if self._pca is None:
            self._pca = pca_colors(self.features)  # the colours `render --pca` paints
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
            "parts_source": self.parts_info.get("source", "discretized here" if self.parts is not None else None),
        }


# ---------------------------------------------------------------------- helpers
def _to_select_clicks(clicks: Sequence[ViewerClick]) -> list[Click]:
    return [Click.at_vertex(c.vertex, c.positive) for c in clicks]
