"""Click selection on a fitted field: scores, thresholds, region growing, hierarchy steps.

A click is a vertex id, a 3D point (snapped to the nearest vertex) or a pixel in one
of the input views (the vertex that dominates that pixel's fragment). The score of a
vertex is the cosine similarity of its feature to the clicked feature (paper Sec.
3.4); several positive clicks take the max; a negative click removes every vertex
that is closer (more similar) to it than to any positive click.

Region growing keeps only the connected components of ``{score >= t}`` on the vertex
graph (mesh edges; k-nearest neighbours for point clouds) that contain a positive
click. As ``t`` sweeps from 1 down, the grown selection only ever gets bigger; its
size as a function of ``t`` is a staircase whose flat treads are the part, the
object, the group... :meth:`Selector.hierarchy` finds those treads (``Step``).

How the sweep is computed: a vertex ``v`` is in the grown selection at ``t`` exactly
when some path from a click to ``v`` has all scores ``>= t``, i.e. when its
*bottleneck* (the best path's lowest score) is ``>= t``. Bottlenecks are read off a
maximum spanning tree of the graph with edge weight ``min(score_u, score_v)`` (and a
virtual root tied to the clicks): one scipy MST plus pointer jumping, no Python loop
over vertices. Up to ``exact_limit`` vertices this runs on the vertices themselves
and the steps are exact; above it, on cached superpoints (graph-connected vertex
groups of near-identical feature), which gives the
threshold ranges (a superpoint scores the mean of its members), and each step's
mask is then grown exactly on the vertices.

:meth:`Selector.choose` is the one selection policy (threshold or hierarchy step);
the CLI and the viewer call it. Loading a workspace is not done here
(:func:`omniseg3d_mesh.pipeline.open_selector`), nor is writing a selection
(:func:`omniseg3d_mesh.io.export.export_selection`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Union

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from .config import SelectConfig
from .field import check_field_geometry, normalize_features, smooth_features
from .graph import edge_arrays, surface_graph, vertex_graph

log = logging.getLogger(__name__)

__all__ = ["Click", "parse_click", "Step", "Selection", "Selector"]

ClickLike = Union["Click", str]

_CLICK_SYNTAX = "v:VERTEX, x:X,Y,Z or p:VIEW:U,V (prefix '-' for a negative click), e.g. v:1234, -v:99, x:0.1,0.2,0.3, p:img_0001.png:320,240"


# --------------------------------------------------------------------------- clicks
@dataclass(frozen=True)
class Click:
    """One click.

    Attributes:
        kind: ``"vertex"``, ``"point"`` or ``"pixel"``.
        positive: False for a negative click (removes what is closer to it).
        vertex: vertex id (kind ``vertex``).
        point: (x, y, z) world position (kind ``point``); snapped to the nearest vertex.
        view: view name = image file name (kind ``pixel``).
        uv: (u, v) pixel coordinates in that view, (0, 0) = top-left corner of the
            top-left pixel (so pixel column j, row i is any u in [j, j+1), v in [i, i+1)).
    """

    kind: str
    positive: bool = True
    vertex: int | None = None
    point: tuple[float, float, float] | None = None
    view: str | None = None
    uv: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        need = {"vertex": "vertex", "point": "point", "pixel": "uv"}
        if self.kind not in need:
            raise ValueError(f"click kind must be 'vertex', 'point' or 'pixel', got {self.kind!r}")
        if getattr(self, need[self.kind]) is None or (self.kind == "pixel" and self.view is None):
            fields = "view and uv" if self.kind == "pixel" else need[self.kind]
            raise ValueError(f"a {self.kind} click needs {fields}")

    @classmethod
    def at_vertex(cls, vertex: int, positive: bool = True) -> Click:
        return cls("vertex", positive, vertex=int(vertex))

    @classmethod
    def at_point(cls, point: Sequence[float], positive: bool = True) -> Click:
        p = tuple(float(x) for x in point)
        if len(p) != 3:
            raise ValueError(f"a point click needs 3 coordinates (x, y, z), got {len(p)}")
        return cls("point", positive, point=p)

    @classmethod
    def at_pixel(cls, view: str, u: float, v: float, positive: bool = True) -> Click:
        return cls("pixel", positive, view=str(view), uv=(float(u), float(v)))

    def __str__(self) -> str:
        sign = "" if self.positive else "-"
        if self.kind == "vertex":
            return f"{sign}v:{self.vertex}"
        if self.kind == "point":
            return f"{sign}x:" + ",".join(f"{c:g}" for c in self.point)  # type: ignore[union-attr]
        return f"{sign}p:{self.view}:{self.uv[0]:g},{self.uv[1]:g}"  # type: ignore[index]


def parse_click(text: str) -> Click:
    """Parse ``v:1234``, ``-v:99``, ``x:0.1,0.2,0.3`` or ``p:VIEW:U,V`` (``+``/``-`` prefix = positive/negative).

    Raises:
        ValueError: the text is not one of these forms (the message shows the syntax).
    """
    raw = str(text).strip()
    body, positive = raw, True
    if body[:1] in "+-" and body:
        positive, body = body[0] == "+", body[1:]
    kind, sep, rest = body.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("v", "x", "p"):
        raise ValueError(f"cannot parse click {raw!r}: expected {_CLICK_SYNTAX}")
    try:
        if kind == "v":
            if not re.fullmatch(r"\s*\d+\s*", rest):
                raise ValueError("vertex id must be a non-negative integer")
            return Click.at_vertex(int(rest), positive)
        if kind == "x":
            coords = [float(c) for c in rest.split(",")]
            if len(coords) != 3 or not np.all(np.isfinite(coords)):
                raise ValueError(f"expected 3 finite coordinates, got {len(coords)}")
            return Click.at_point(coords, positive)
        view, sep2, uv = rest.rpartition(":")
        if not sep2 or not view:
            raise ValueError("expected VIEW:U,V")
        u, v = (float(c) for c in uv.split(","))
        return Click.at_pixel(view, u, v, positive)
    except ValueError as exc:
        raise ValueError(f"cannot parse click {raw!r} ({exc}): expected {_CLICK_SYNTAX}") from None


def _as_clicks(clicks: ClickLike | Iterable[ClickLike]) -> list[Click]:
    if isinstance(clicks, (Click, str)):
        clicks = [clicks]
    out = [c if isinstance(c, Click) else parse_click(c) for c in clicks]
    if not out:
        raise ValueError("no clicks given: pass at least one positive click (e.g. v:1234)")
    return out


# --------------------------------------------------------------------------- steps
@dataclass
class Step:
    """One tread of the hierarchy staircase of a click.

    Attributes:
        threshold_hi: the highest threshold of the range that gives this selection.
        threshold_lo: the lowest one.
        threshold: the representative threshold, the middle of the first flat tread of the
            range (treads below it that change the selection by under
            ``SelectConfig.min_step_change`` extend ``threshold_lo`` only; the middle of
            the whole range scored the same on the rooms, docs/results.md); ``mask`` is
            taken there.
        approx_size: selected vertices as seen by the sweep (exact up to
            ``SelectConfig.exact_limit`` vertices; above it a superpoint estimate).
        mask: [V] bool, the grown selection at ``threshold`` (computed on first access, exact).
        size: ``mask.sum()`` (exact; computes the mask).
    """

    threshold_hi: float
    threshold_lo: float
    threshold: float
    approx_size: int
    _mask: np.ndarray | None = field(default=None, repr=False)
    _compute: Callable[[], np.ndarray] | None = field(default=None, repr=False)

    @property
    def mask(self) -> np.ndarray:
        if self._mask is None:
            self._mask = self._compute()  # type: ignore[misc]
            self._compute = None
        return self._mask

    @property
    def size(self) -> int:
        return int(self.mask.sum())

    def __repr__(self) -> str:
        return (
            f"Step(threshold={self.threshold:.3f} in [{self.threshold_lo:.3f}, {self.threshold_hi:.3f}], "
            f"size~{self.approx_size})"
        )


@dataclass(frozen=True)
class Selection:
    """A click's selection as :meth:`Selector.choose` picked it.

    Attributes:
        steps: the click's hierarchy steps (smallest first).
        step: the index of the chosen step, or None when a threshold was given.
        threshold: the threshold the selection was taken at.
        mask: [V] bool, the selected vertices.
    """

    steps: tuple[Step, ...]
    step: int | None
    threshold: float
    mask: np.ndarray = field(repr=False)


# --------------------------------------------------------------------------- selector
class Selector:
    """Answers clicks on a fitted field. Never needs the training data.

    Args:
        features: [V, D] float features (normalised here), or a :class:`~omniseg3d_mesh.field.Field`.
        vertices: [V, 3] positions.
        faces: [F, 3] triangles, or None for a point cloud (k-NN graph).
        cameras: the views pixel clicks may refer to (a list of Camera).
        fragments_lookup: ``view name -> Fragments`` for pixel clicks; default: ray cast the
            view on first use (needs open3d) and keep it.
        config: :class:`~omniseg3d_mesh.config.SelectConfig` (point-cloud graph ``knn``,
            hierarchy step parameters, ...; default: its defaults).
        adjacency: an optional precomputed [V, V] vertex graph.
        **overrides: fields of ``config`` to change, e.g. ``knn=16``.
    """

    def __init__(
        self,
        features: Any,
        vertices: np.ndarray,
        faces: np.ndarray | None = None,
        cameras: Sequence[Any] | None = None,
        fragments_lookup: Callable[[str], Any] | None = None,
        config: SelectConfig | None = None,
        adjacency: sp.csr_matrix | None = None,
        **overrides: Any,
    ):
        feats = np.asarray(getattr(features, "features", features))
        verts = np.asarray(vertices, dtype=np.float32)
        check_field_geometry(feats, verts)
        if faces is not None:
            faces = np.asarray(faces, dtype=np.int32)
            if faces.ndim != 2 or faces.shape[1] != 3:
                raise ValueError(f"faces must be triangles with shape (F, 3), got {faces.shape}")
            if len(faces) == 0:
                faces = None
        self.features = np.ascontiguousarray(normalize_features(feats, dtype=None), dtype=np.float32)
        self.vertices = verts
        self.faces = faces
        self.cameras = {c.name: c for c in (cameras or [])}
        self.config = dataclasses.replace(config or SelectConfig(), **overrides)
        self._fragments_lookup = fragments_lookup
        self._fragments: dict[str, Any] = {}
        self._adj = adjacency
        self._kdtree: Any = None  # scipy cKDTree, built on the first point click
        self._coarse: tuple | None = None
        self._gated: sp.csr_matrix | None = None
        self._smoothed: np.ndarray | None = None
        self._gate_open: np.ndarray | None = None
        self._last_steps: tuple | None = None  # ((clicks, grow), steps) of the last hierarchy asked for
        self.workspace: Any = None  # the Workspace, when opened by pipeline.open_selector
        self.colors: np.ndarray | None = None  # [V, 3] u8 when known (pipeline.open_selector)

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_workspace(cls, workspace: Any = None, config: SelectConfig | None = None, **overrides: Any) -> Selector:
        """A selector over a workspace: ``field.npz`` + ``geometry.npz`` (+ ``cameras.json`` and the
        fragment cache for pixel clicks). Default workspace: ``./omniseg``. Loading is
        :func:`omniseg3d_mesh.pipeline.open_selector`."""
        from .pipeline import open_selector

        return open_selector(workspace, config=config, **overrides)

    @property
    def score_features(self) -> np.ndarray:
        """[V, D] the unit features scores are computed from: the field itself, or with
        ``config.smooth_iters > 0`` its edge-aware denoised version (cached)."""
        if self.config.smooth_iters <= 0:
            return self.features
        if self._smoothed is None:
            self._smoothed = smooth_features(self.features, self.adjacency, self.config.smooth_iters)
        return self._smoothed

    @property
    def adjacency(self) -> sp.csr_matrix:
        """[V, V] vertex graph (built once, cached)."""
        if self._adj is None:
            adj = vertex_graph(self.vertices, self.faces, self.config.knn, bridge=True).tocsr()
            adj.indices = adj.indices.astype(np.int32, copy=False)
            adj.indptr = adj.indptr.astype(np.int64 if adj.nnz >= 2**31 else np.int32, copy=False)
            self._adj = adj
        return self._adj

    def prepare(self, hierarchy: bool = True) -> Selector:
        """Build the cached graph (and the superpoints the hierarchy sweep uses on big meshes) now."""
        _ = self.adjacency
        if hierarchy:
            self._coarse_graph()
        return self

    # ------------------------------------------------------------------ clicks
    def resolve(self, click: ClickLike) -> int:
        """The vertex id a click stands for.

        Raises:
            ValueError: vertex out of range, unknown view, pixel outside the image or on background.
        """
        c = click if isinstance(click, Click) else parse_click(click)
        n = self.num_vertices
        if c.kind == "vertex":
            v = int(c.vertex)  # type: ignore[arg-type]
            if not 0 <= v < n:
                raise ValueError(f"click {c}: vertex {v} does not exist, the geometry has vertices 0..{n - 1}")
            return v
        if c.kind == "point":
            if self._kdtree is None:
                from scipy.spatial import cKDTree

                self._kdtree = cKDTree(self.vertices)
            _, idx = self._kdtree.query(np.asarray(c.point, dtype=np.float64))
            return int(idx)
        return self._resolve_pixel(c)

    def _resolve_pixel(self, c: Click) -> int:
        view = str(c.view)
        if view not in self.cameras and (self._fragments_lookup is None or self.cameras):
            known = ", ".join(sorted(self.cameras)[:8]) or "none"
            more = f" (and {len(self.cameras) - 8} more)" if len(self.cameras) > 8 else ""
            raise ValueError(
                f"click {c}: unknown view {view!r}; views with cameras: {known}{more}. "
                "Pixel clicks need the workspace's cameras.json (written by `omniseg-mesh fit`) and a view name from it"
            )
        frags = self._fragments.get(view)
        if frags is None:
            if self._fragments_lookup is not None:
                frags = self._fragments_lookup(view)
            else:
                from .render.fragments import compute_fragments
                from .scene import Scene

                scene = Scene(vertices=self.vertices, faces=self.faces, cameras=list(self.cameras.values()))
                frags = compute_fragments(scene, self.cameras[view])
            self._fragments[view] = frags
        u, v = c.uv  # type: ignore[misc]
        col, row = int(np.floor(u)), int(np.floor(v))
        if not (0 <= col < frags.width and 0 <= row < frags.height):
            raise ValueError(
                f"click {c}: pixel (u={u:g}, v={v:g}) is outside view {view!r} of size "
                f"{frags.width}x{frags.height}; u must be in [0, {frags.width}) and v in [0, {frags.height})"
            )
        vid = int(frags.dominant_vertex()[row, col]) if frags.valid[row, col] else -1
        if vid < 0:
            raise ValueError(
                f"click {c}: pixel (u={u:g}, v={v:g}) of view {view!r} sees background, not the surface; click on the object"
            )
        return vid

    def _split(self, clicks: ClickLike | Iterable[ClickLike]) -> tuple[np.ndarray, np.ndarray]:
        cl = _as_clicks(clicks)
        pos = np.array([self.resolve(c) for c in cl if c.positive], dtype=np.int64)
        neg = np.array([self.resolve(c) for c in cl if not c.positive], dtype=np.int64)
        if len(pos) == 0:
            raise ValueError(
                f"only negative clicks given ({', '.join(map(str, cl))}): at least one positive click is needed"
            )
        return pos, neg

    # ------------------------------------------------------------------ scores
    def scores(self, clicks: ClickLike | Iterable[ClickLike]) -> np.ndarray:
        """[V] float32 score: max cosine similarity to the positive clicks' features;
        ``-inf`` where a negative click is at least as similar as every positive one."""
        pos, neg = self._split(clicks)
        return self._scores(pos, neg)

    def _scores(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        f = self.score_features
        s = f @ f[pos[0]]
        for p in pos[1:]:
            np.maximum(s, f @ f[p], out=s)
        if len(neg):
            sn = f @ f[neg[0]]
            for q in neg[1:]:
                np.maximum(sn, f @ f[q], out=sn)
            s[sn >= s] = -np.inf  # ties go to the negative: a negative on a positive cancels it
        return s

    @staticmethod
    def _check_threshold(threshold: float) -> float:
        t = float(threshold)
        if not -1.0 <= t <= 1.0:
            raise ValueError(f"threshold is a cosine similarity and must be in [-1, 1], got {threshold}")
        return t

    # ------------------------------------------------------------------ selection
    def select(self, clicks: ClickLike | Iterable[ClickLike], threshold: float, grow: bool = True) -> np.ndarray:
        """[V] bool selection at ``threshold``.

        Args:
            clicks: one or more clicks (``Click`` or click strings).
            threshold: cosine-similarity threshold in [-1, 1].
            grow: keep only the graph components of ``{score >= threshold}`` that
                contain a positive click (False: every vertex above the threshold).
        """
        t = self._check_threshold(threshold)
        pos, neg = self._split(clicks)
        s = self._scores(pos, neg)
        above = s >= t
        return self._grow(above, pos) if grow else above

    def _gated_graph(self) -> sp.csr_matrix:
        """The vertex graph with a gate per vertex, built once (see :meth:`_grow`).

        Nodes ``0..V-1`` are gates with one out-edge each (to their vertex, or to the
        sink ``2V`` when closed); nodes ``V..2V-1`` are the vertices, whose out-edges go
        to their neighbours' gates. Opening the gates of ``{score >= t}`` is one
        vectorised write of V ids, so a query never rebuilds the E-edge graph.
        """
        if self._gated is None:
            adj = self.adjacency
            n = self.num_vertices
            itype = np.int64 if adj.nnz + n >= 2**31 else np.int32
            indices = np.concatenate([np.full(n, 2 * n, itype), adj.indices.astype(itype)])
            indptr = np.concatenate(
                [np.arange(n + 1, dtype=itype), (n + adj.indptr[1:]).astype(itype), np.array([n + adj.nnz], itype)]
            )
            g = sp.csr_matrix((2 * n + 1, 2 * n + 1), dtype=np.float64)
            g.data, g.indices, g.indptr = np.ones(len(indices)), indices, indptr
            self._gated = g
            self._gate_open = (n + np.arange(n)).astype(itype)
        return self._gated

    def _grow(self, above: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """[V] bool: the vertices of ``above`` connected to a seed inside ``above``.

        One C breadth-first search over the gated graph (:meth:`_gated_graph`): the
        search enters any neighbour's gate but passes it only when the gate is open,
        so its cost is the size of the grown region and its border, not of the mesh.
        """
        n = self.num_vertices
        out = np.zeros(n, bool)
        seeds = np.unique(seeds[above[seeds]])
        if len(seeds) == 0:
            return out
        g = self._gated_graph()
        assert self._gate_open is not None  # built with the gated graph
        g.indices[:n] = np.where(above, self._gate_open, 2 * n)
        for s in seeds:
            if not out[s]:
                order = csgraph.breadth_first_order(g, int(s), directed=True, return_predecessors=False)
                out[order[order < n]] = True
        out &= above
        return out

    # ------------------------------------------------------------------ hierarchy
    def _coarse_graph(self) -> tuple:
        """(node_of_vertex [V] or None, order [V], starts [S], sizes [S], edges (a, b)) for the sweep."""
        if self._coarse is not None:
            return self._coarse
        adj = self.adjacency
        u, v = edge_arrays(adj)
        if self.num_vertices <= self.config.exact_limit:
            self._coarse = (None, None, None, np.ones(self.num_vertices, np.int64), (u, v))
            return self._coarse
        from .discretize import oversegment

        # superpoints of the (edge-aware) denoised field: pure, and still ~V/256 of them on a noisy field.
        # On a point cloud they do not cross a contact (graph.surface_graph): a candle's few points
        # would otherwise share one with the table they touch, and its mean would hide the candle's step.
        cut = adj if self.faces is not None else surface_graph(self.vertices, None, adjacency=adj)
        fs = self.score_features if self.config.smooth_iters >= 2 else smooth_features(self.features, cut, 2)
        # three chaining-guard rounds: 16 cost the points click 4 points (docs/results.md)
        lab = oversegment(fs, cut, self.vertices, threshold=0.95, max_size=256, refine_rounds=3)
        k = int(lab.max()) + 1
        order = np.argsort(lab, kind="stable")
        sizes = np.bincount(lab, minlength=k)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        cross = lab[u] != lab[v]
        a, b = lab[u[cross]], lab[v[cross]]
        key = np.unique(np.minimum(a, b) * k + np.maximum(a, b))
        self._coarse = (lab, order, starts, sizes.astype(np.int64), (key // k, key % k))
        log.info("hierarchy sweep on %d superpoints for %d vertices", k, self.num_vertices)
        return self._coarse

    def _bottleneck(self, node_score: np.ndarray, edges: tuple, click_nodes: np.ndarray) -> np.ndarray:
        """[N] best-path lowest score from the clicks to every node (-inf = unreachable)."""
        n = len(node_score)
        a, b = edges
        w = np.minimum(node_score[a], node_score[b])
        ok = np.isfinite(w)
        cn = np.unique(click_nodes)
        cn = cn[np.isfinite(node_score[cn])]
        root = n
        ra = np.concatenate([a[ok], np.full(len(cn), root)])
        rb = np.concatenate([b[ok], cn])
        rw = np.concatenate([w[ok], node_score[cn]])
        # maximum spanning tree = minimum spanning tree of (3 - w) > 0
        g = sp.csr_matrix((3.0 - rw.astype(np.float64), (ra, rb)), shape=(n + 1, n + 1))
        tree = csgraph.minimum_spanning_tree(g).tocoo()
        _, pred = csgraph.breadth_first_order(tree, root, directed=False, return_predecessors=True)
        bott = np.full(n + 1, -np.inf)
        parent = np.arange(n + 1)
        tr, tc, tw = tree.row, tree.col, 3.0 - tree.data
        child = np.where(pred[tc] == tr, tc, tr)
        par = np.where(pred[tc] == tr, tr, tc)
        valid = pred[child] == par  # edges of the tree part hanging from the root
        child, par, tw = child[valid], par[valid], tw[valid]
        bott[child] = tw
        parent[child] = par
        bott[root] = np.inf
        while True:  # pointer jumping: bott = min over the path to the root
            pp = parent[parent]
            np.minimum(bott, bott[parent], out=bott)
            if np.array_equal(pp, parent):
                break
            parent = pp
        return bott[:n]

    def hierarchy(self, clicks: ClickLike | Iterable[ClickLike], grow: bool = True) -> list[Step]:
        """The distinct nested selections of a click (or clicks) as the threshold falls, smallest first.

        With region growing (``grow``), a step is a threshold range ``[threshold_lo,
        threshold_hi]`` at least ``config.min_step_width`` wide over which the grown
        selection grows by at most ``config.min_step_change`` (relative) and holds at
        least ``config.min_step_size`` vertices: the part, then the object, then the
        group... Returns at least one step (the click's own selection at the median
        threshold when the size curve has no flat range), or none when negative clicks
        exclude everything.

        Without region growing, plain thresholding ignores connectivity, so the steps
        are the valleys of the score distribution (:meth:`_valley_steps`): thresholds
        in score ranges that hold almost no vertex, each step at least
        ``config.min_step_change`` bigger than the one before; possibly none.

        The steps of the last clicks asked for are kept, so asking again (e.g. by
        :meth:`choose`) costs nothing.
        """
        cl = _as_clicks(clicks)
        key = (tuple(cl), bool(grow))
        if self._last_steps is not None and self._last_steps[0] == key:
            return list(self._last_steps[1])
        pos, neg = self._split(cl)
        s = self._scores(pos, neg)
        steps = self._grown_steps(s, pos) if grow else self._valley_steps(s)
        self._last_steps = (key, steps)
        return list(steps)

    def _grown_steps(self, s: np.ndarray, pos: np.ndarray) -> list[Step]:
        """Steps of region growing from ``pos`` on the scores ``s`` [V] (see :meth:`hierarchy`)."""
        lab, order, starts, sizes, edges = self._coarse_graph()
        if lab is None:
            node_score, click_nodes = s.astype(np.float64), pos
        else:
            # a superpoint's score: the mean of its members (-inf if any member is excluded)
            node_score = np.add.reduceat(s[order].astype(np.float64), starts) / sizes
            click_nodes = lab[pos]
        bott = self._bottleneck(node_score, edges, click_nodes)
        reach = np.isfinite(bott)
        if not reach.any():
            return []
        b_sorted = np.sort(bott[reach])[::-1]
        cum = np.cumsum(sizes[reach][np.argsort(-bott[reach], kind="stable")])
        grid = np.round(np.arange(1.0, -1.0 - 1e-9, -0.01), 4)
        count = np.searchsorted(-b_sorted, -grid, side="right")
        size_at = np.where(count > 0, cum[np.maximum(count - 1, 0)], 0)
        ranges = self._plateaus(grid, size_at)
        if not ranges:
            mid = float(np.median(b_sorted))
            ranges = [(mid, mid)]
        steps: list[Step] = []
        for hi, lo in ranges:
            t = round((hi + lo) / 2.0, 4)
            approx = int(size_at[np.searchsorted(-grid, -t, side="right") - 1]) if t <= 1.0 else 0
            if approx == 0:
                continue
            if steps and approx <= steps[-1].approx_size * (1.0 + self.config.min_step_change):
                steps[-1].threshold_lo = float(lo)
                continue
            if lab is None:

                def compute(t: float = t) -> np.ndarray:
                    return bott >= t - 1e-9
            else:

                def compute(t: float = t) -> np.ndarray:
                    return self._grow(s >= t, pos)

            steps.append(Step(float(hi), float(lo), float(t), approx, _compute=compute))
        return steps

    def _plateaus(self, grid: np.ndarray, size_at: np.ndarray) -> list[tuple[float, float]]:
        """Flat treads of the size curve: (hi, lo) threshold ranges, high to low."""
        change, width = self.config.min_step_change, self.config.min_step_width
        out = []
        i, g = 0, len(grid)
        min_size = max(1, min(int(self.config.min_step_size), int(size_at[-1])))
        while i < g:
            if size_at[i] < min_size:
                i += 1
                continue
            limit = size_at[i] * (1.0 + change)
            j = int(np.searchsorted(size_at, limit, side="right")) - 1  # size_at is non-decreasing
            j = max(j, i)
            if grid[i] - grid[j] >= width - 1e-9:
                out.append((float(grid[i]), float(grid[j])))
                i = j + 1
            else:
                i += 1
        return out

    def _valley_steps(self, s: np.ndarray) -> list[Step]:
        """Steps of plain thresholding: thresholds in the score valleys (histogram bins
        holding almost no vertex); a new step must grow the selection by
        ``config.min_step_change``."""
        finite = s[np.isfinite(s)]
        edges = np.linspace(-1.0, 1.0, 201)
        hist, _ = np.histogram(finite, bins=edges)
        empty = hist <= max(1, int(2e-4 * len(finite)))
        steps: list[Step] = []
        last_size = 0
        i = len(hist) - 1
        while i >= 0:
            if not empty[i]:
                i -= 1
                continue
            j = i
            while j - 1 >= 0 and empty[j - 1]:
                j -= 1
            if j > 0 and i < len(hist) - 1 and hist[:j].sum() > 0:  # a valley between occupied bins
                hi, lo = float(edges[i + 1]), float(edges[j])
                t = round(0.5 * (hi + lo), 4)
                size = int((finite >= t).sum())
                if size > last_size * (1.0 + self.config.min_step_change):
                    steps.append(Step(hi, lo, t, size, _compute=partial(np.greater_equal, s, t)))
                    last_size = size
            i = j - 1
        return steps

    def choose(
        self,
        clicks: ClickLike | Iterable[ClickLike],
        threshold: float | None = None,
        step: int | None = None,
        grow: bool = True,
    ) -> Selection:
        """The selection of a click: at ``threshold``, else at hierarchy ``step`` (default 0).

        This is the selection policy ``omniseg-mesh select`` and the viewer share:
        the click's steps come from :meth:`hierarchy` (with or without region
        growing); a threshold selects with :meth:`select`; a step selects that
        step's mask.

        Raises:
            ValueError: both ``threshold`` and ``step``; a negative step; the clicks
                select nothing (every vertex is closer to a negative click).
            IndexError: ``step`` is not one of the click's steps (the message says
                how many there are).
        """
        if threshold is not None and step is not None:
            raise ValueError("give either a threshold or a step, not both")
        if step is not None and int(step) < 0:
            raise ValueError(f"step must be 0 (smallest) or more, got {step}")
        steps = self.hierarchy(clicks, grow=grow)
        if threshold is not None:
            return Selection(tuple(steps), None, float(threshold), self.select(clicks, threshold, grow=grow))
        if not steps:
            raise ValueError("the clicks select nothing: every vertex is closer to a negative click")
        k = int(step or 0)
        if k >= len(steps):
            raise IndexError(f"step {k}: this click has {len(steps)} step(s), numbered 0..{len(steps) - 1}")
        return Selection(tuple(steps), k, steps[k].threshold, steps[k].mask)

    def select_step(self, clicks: ClickLike | Iterable[ClickLike], step: int = 0) -> Step:
        """The ``step``-th hierarchy step (0 = smallest); steps past the last give the last one.

        Raises:
            ValueError: a negative step.
        """
        if int(step) < 0:
            raise ValueError(f"step must be 0 (smallest) or more, got {step}")
        steps = self.hierarchy(clicks)
        if not steps:
            raise ValueError("the clicks select nothing: every vertex is closer to a negative click")
        if int(step) >= len(steps):
            log.warning("step %d requested but the click has %d steps; using the last one", step, len(steps))
        return steps[min(int(step), len(steps) - 1)]

    # ------------------------------------------------------------------ several objects
    def multi_select(
        self,
        click_groups: Sequence[ClickLike | Iterable[ClickLike]],
        threshold: float | None = None,
        step: int | None = None,
        grow: bool = True,
    ) -> np.ndarray:
        """One label per click group, without overlaps.

        Args:
            click_groups: a list of click groups (each one or more clicks).
            threshold: the threshold for every group; or
            step: the hierarchy step for every group (default: step 0).
            grow: region growing (with ``threshold``).

        Returns:
            [V] int32: index of the group that selects each vertex, -1 = none. A vertex
            claimed by several groups goes to the group with the highest score there.
        """
        if threshold is not None and step is not None:
            raise ValueError("give either threshold or step for multi_select, not both")
        if len(click_groups) == 0:
            raise ValueError("no click groups given: pass a list with one list of clicks per object")
        n = self.num_vertices
        best = np.full(n, -np.inf, np.float32)
        labels = np.full(n, -1, np.int32)
        for gi, group in enumerate(click_groups):
            pos, neg = self._split(group)
            s = self._scores(pos, neg)
            if threshold is not None:
                t = self._check_threshold(threshold)
                mask = self._grow(s >= t, pos) if grow else s >= t
            else:
                mask = self.select_step(group, step or 0).mask
            win = mask & (s > best)
            labels[win] = gi
            best[win] = s[win]
        return labels

    def __repr__(self) -> str:
        kind = "mesh" if self.faces is not None else "point cloud"
        return f"Selector({self.num_vertices} vertices, {kind}, D={self.features.shape[1]}, views={len(self.cameras)})"
