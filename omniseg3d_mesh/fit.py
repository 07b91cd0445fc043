"""Fit a per-vertex feature field to multi-view masks (paper Sec. 3.2-3.3).

The pipeline of :func:`fit_field`:

1. Per view: fragments (pixel -> 3 vertex ids + barycentric weights, cached in the
   workspace) and the 2D hierarchy (patch map + votes, cached in
   ``hierarchy/<view>.npz`` keyed by the mask content). Only pixels with both a
   fragment and a patch are kept, stored compactly (int32 ids, float16 weights,
   int32 patch ids): 60 views at 640x480 take about 400 MB.
2. Per step: ``views_per_step`` views (drawn at random), N pixels among them (with
   replacement); a pixel's feature is the weighted sum of its vertices' features. The
   rows a step reads (pixels' vertices, spread pairs, smoothness edges; coarse and
   fine) are gathered once into a small leaf tensor, whose gradient is the step's row
   gradient, summed per row; loss = hierarchical
   contrastive loss + ``norm_weight`` * norm loss (+ ``smooth_weight`` * mean squared
   feature difference over surface edges, :func:`smoothness_edges`); Adam with a cosine learning-rate schedule
   ``lr -> lr_final``.
3. After the last step, vertices no kept pixel ever touched get features by
   diffusion over the vertex graph; all features are normalised to unit length.

Every step draws its view and pixels from a generator seeded with ``(seed, step)``,
so an interrupted fit that resumes from a checkpoint (``checkpoints/fit.pt``, written
atomically every ``checkpoint_every`` steps) gives the same field as an
uninterrupted one, and a fixed seed gives the same field (on CPU; CUDA scatter-adds
are not bit-deterministic).

:func:`fit_field` takes a Scene and masks, never input paths, and writes no field: a
workspace it is given serves only as the cache of fragments, hierarchies and
checkpoints. Loading the inputs and writing ``field.npz`` is
:func:`omniseg3d_mesh.pipeline.fit_workspace`'s job.
"""

from __future__ import annotations

import io
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import FitConfig, FragmentConfig, config_to_dict
from .field import Field, normalize_features
from .hierarchy import Hierarchy, build_hierarchy
from .io.masks import masks_hash
from .progress import ProgressCallback, report
from .scene import Scene
from .workspace import Workspace, atomic_save_npz, atomic_write_bytes, content_hash

log = logging.getLogger(__name__)

__all__ = [
    "FitDivergedError",
    "ViewData",
    "prepare_views",
    "pixel_vertices",
    "fit_field",
    "scheduled_steps",
    "coarse_rows_target",
    "resolve_device",
    "vote_embedding",
    "vote_pair_targets",
    "masks_hash",
]

FIT_VERSION = 1
HIERARCHY_VERSION = 2  # 2: membership stored (mask-balanced sampling)
# config fields that do not change the fitted field (excluded from the resume key)
_NOT_IN_KEY = ("checkpoint_every", "device", "num_threads", "allow_missing_masks", "diffusion_iters")


@dataclass
class ViewData:
    """The training pixels of one view: those with both a fragment and a patch, kept compact.

    Mesh views keep, per pixel, the hit triangle and two barycentric weights (4 + 4
    bytes, + 4 for the patch id, against 12 + 6 + 4 for three vertex ids and three
    weights); :attr:`vertex_ids` and :attr:`weights` expand them on demand.
    Point-cloud views (and fragments given as explicit ids) keep their ids and
    weights as they are.

    Attributes:
        name: view name.
        patch_ids: [n] int32 patch id of each pixel (0..P-1), sorted: the pixels of
            patch p are the contiguous range ``patch_start[p]:patch_start[p + 1]``.
        votes: [P, P] int32 vote matrix of the view.
        face_ids: [n] int32 hit triangle of each pixel (meshes), else None.
        bary: [n, 2] float16 weights of the triangle's second and third vertex (the
            first gets ``1 - sum``; meshes), else None.
        faces: [F, 3] int32 the mesh's triangles (shared by all views, not copied), else None.
        explicit_ids: [n, K] int32 vertex ids (point clouds: K = 1), else None.
        explicit_weights: [n, K] float16 their weights, else None.
        masks_hash: content hash of the view's masks (what the hierarchy and the fit
            checkpoint are keyed by; computed once, when the masks are read).
        patch_start: [P + 1] int64 offsets of each patch's pixels.
        patch_mass: [P] float64 mask-balanced sampling mass of each patch (every mask
            of the view carries the same total mass, spread evenly over its pixels).
        boundary_idx: [b] int32 the pixels (indices into the arrays above) in the band
            along the view's mask boundaries (:meth:`Hierarchy.boundary_band`), or None.
    """

    name: str
    patch_ids: np.ndarray
    votes: np.ndarray
    face_ids: np.ndarray | None = None
    bary: np.ndarray | None = None
    faces: np.ndarray | None = None
    explicit_ids: np.ndarray | None = None
    explicit_weights: np.ndarray | None = None
    masks_hash: str = ""
    patch_start: np.ndarray | None = None
    patch_mass: np.ndarray | None = None
    boundary_idx: np.ndarray | None = None

    def sample(self, rng: np.random.Generator, count: int, balanced: float, boundary: float = 0.0) -> np.ndarray:
        """``count`` pixel indices: ``boundary`` of them from the mask-boundary band (when the
        view has one), ``balanced`` of the rest mask-balanced, the others uniform."""
        band = self.boundary_idx
        if boundary > 0 and band is not None and len(band):
            n_bnd = int(round(count * boundary))
            rest = self.sample(rng, count - n_bnd, balanced)
            return np.concatenate([rest, band[rng.integers(0, len(band), n_bnd)]])
        n = self.num_pixels
        n_bal = int(round(count * balanced)) if self.patch_mass is not None else 0
        uniform = rng.integers(0, n, count - n_bal)
        if n_bal == 0:
            return uniform
        mass, offsets = self.patch_mass, self.patch_start
        assert mass is not None and offsets is not None  # n_bal > 0 only for views with patches
        patches = rng.choice(len(mass), n_bal, p=mass / mass.sum())
        start, stop = offsets[patches], offsets[patches + 1]
        picked = start + np.floor(rng.random(n_bal) * (stop - start)).astype(np.int64)
        return np.concatenate([uniform, np.minimum(picked, stop - 1)])

    @property
    def num_pixels(self) -> int:
        return int(len(self.patch_ids))

    @property
    def is_compact(self) -> bool:
        """Mesh pixels stored as triangle + two barycentric weights."""
        return self.face_ids is not None

    @property
    def vertex_ids(self) -> np.ndarray:
        """[n, K] int32 vertex ids of each pixel (K = 3 for meshes); expanded on each call (~3 ms per 200k pixels)."""
        faces, face_ids = self.faces, self.face_ids
        if faces is not None and face_ids is not None:  # the compact form
            return faces.take(face_ids, axis=0)
        assert self.explicit_ids is not None  # a view holds the compact or the explicit form
        return self.explicit_ids

    @property
    def weights(self) -> np.ndarray:
        """[n, K] float16 interpolation weights (sum to 1); expanded on each call (~6 ms per 200k pixels)."""
        if self.bary is None:
            assert self.explicit_weights is not None  # a view holds the compact or the explicit form
            return self.explicit_weights
        w = np.empty((self.num_pixels, 3), dtype=np.float16)
        w[:, 1:] = self.bary
        b = self.bary.astype(np.float32)
        w[:, 0] = 1.0 - (b[:, 0] + b[:, 1])
        return w

    @property
    def nbytes(self) -> int:
        """Bytes this view holds (the shared ``faces`` not counted)."""
        arrays = (
            self.patch_ids,
            self.votes,
            self.face_ids,
            self.bary,
            self.explicit_ids,
            self.explicit_weights,
            self.patch_start,
            self.patch_mass,
            self.boundary_idx,
        )
        return int(sum(a.nbytes for a in arrays if a is not None))


def pixel_vertices(faces, face_ids, bary):
    """Expand compact mesh pixels to vertex ids and weights (numpy arrays or torch tensors).

    Args:
        faces: [F, 3] int triangles.
        face_ids: [n] int hit triangle of each pixel (all valid).
        bary: [n, 2] float weights of each triangle's second and third vertex.

    Returns:
        ids: [n, 3] the triangles' vertex ids (dtype of ``faces``).
        weights: [n, 3] float32 weights, ``(1 - b1 - b2, b1, b2)``.
    """
    if isinstance(bary, np.ndarray):
        b = bary.astype(np.float32)
        w = np.empty((len(b), 3), dtype=np.float32)
        w[:, 1:] = b
        w[:, 0] = 1.0 - (b[:, 0] + b[:, 1])
        return np.take(faces, face_ids, axis=0), w
    import torch

    b = bary.float()
    return faces[face_ids], torch.cat([1.0 - (b[:, :1] + b[:, 1:]), b], dim=1)


SPREAD_POOL = 1 << 18  # spread pairs drawn once when their targets come from the votes (spread_votes)
VOTE_INIT_PIXELS = 16384  # pixels per view the vote initialisation reads (a node-level statistic: a sample is enough)


def _node_patch_samples(views: list[ViewData], node_of: np.ndarray | None, seed: int, pixels: int):
    """Per view with pixels: (view, node [n] int64, patch [n] int64) of up to ``pixels`` sampled pixels.

    A pixel's node is that of its vertex with the largest weight (``node_of[vertex]``, or
    the vertex itself when ``node_of`` is None).
    """
    rng = np.random.default_rng([int(seed), 7])
    out = []
    for v in views:
        n = v.num_pixels
        if n == 0:
            continue
        sel = np.sort(rng.choice(n, min(n, pixels), replace=False))
        if v.is_compact:
            assert v.faces is not None and v.face_ids is not None and v.bary is not None
            ids, w = pixel_vertices(v.faces, v.face_ids[sel], v.bary[sel])
        else:
            assert v.explicit_ids is not None and v.explicit_weights is not None
            ids, w = v.explicit_ids[sel], v.explicit_weights[sel].astype(np.float32)
        vert = ids[np.arange(len(sel)), np.argmax(w, axis=1)].astype(np.int64)
        keep = vert >= 0
        vert = vert[keep]
        out.append((v, vert if node_of is None else node_of[vert], v.patch_ids[sel][keep].astype(np.int64)))
    return out


def vote_pair_targets(
    views: list[ViewData],
    pairs: np.ndarray,
    node_of: np.ndarray | None,
    num_nodes: int,
    seed: int = 0,
    pixels: int = VOTE_INIT_PIXELS,
) -> tuple[np.ndarray, np.ndarray]:
    """The masks' multi-view co-membership of vertex pairs: mean Jaccard over the views showing both.

    Each node (vertex, or coarse voxel with ``node_of``) gets, per view, the patch of a
    sampled pixel on it; a pair's target is the mean over the views where both nodes
    have a patch of the Jaccard similarity of the two patches' mask sets (what the
    affinity term regresses one view at a time), and 0 where no view shows both.

    Args:
        views: the training views.
        pairs: [B, 2] int vertex ids.
        node_of: [V] node of each vertex or None.
        num_nodes: number of nodes (V when ``node_of`` is None).

    Returns:
        ``(target [B] float32 in [0, 1], covisible [B] bool)``.
    """
    samples = _node_patch_samples(views, node_of, seed, pixels)
    nu = pairs[:, 0] if node_of is None else node_of[pairs[:, 0]]
    nv = pairs[:, 1] if node_of is None else node_of[pairs[:, 1]]
    total = np.zeros(len(pairs), np.float64)
    count = np.zeros(len(pairs), np.int64)
    patch_of = np.full(num_nodes, -1, np.int64)
    for v, nodes, patches in samples:
        patch_of[nodes] = patches
        pu, pv = patch_of[nu], patch_of[nv]
        both = (pu >= 0) & (pv >= 0)
        if both.any():
            c = v.votes[pu[both], pv[both]].astype(np.float64)
            union = v.votes[pu[both], pu[both]] + v.votes[pv[both], pv[both]] - c
            total[both] += np.where(union > 0, c / np.maximum(union, 1), 0.0)
            count[both] += 1
        patch_of[nodes] = -1
    return (total / np.maximum(count, 1)).astype(np.float32), count > 0


def vote_embedding(
    views: list[ViewData],
    init,
    node_of: np.ndarray | None,
    iterations: int,
    seed: int = 0,
    pixels: int = VOTE_INIT_PIXELS,
):
    """Start features from the masks' multi-view co-membership instead of noise.

    A few rounds of ``X <- normalise(sum_views P_v J_v Q_v X)``: ``Q_v`` averages the
    rows of ``X`` over the nodes each patch of view v covers, ``J_v`` is the Jaccard
    similarity of the patches' mask sets (:func:`losses.jaccard_affinity`, what the
    affinity term regresses) and ``P_v`` hands each node the mix of its patches. A node
    thus becomes the vote-weighted average of the random vectors of the nodes it shares
    masks with, summed over every view that sees it: nodes that the masks keep together
    across views start with nearly equal features, nodes no mask ever joins keep
    independent random directions (cosine ~ 1/sqrt(D)). This is the co-membership
    statistic the voting anchor scores with (``evaluation.voting_scores``), handed to
    the field as its starting point; the losses then refine it.

    Args:
        views: the training views (:func:`prepare_views`).
        init: [R, D] float tensor (CPU) of random start features, one row per node.
        node_of: [V] int node of each vertex (the coarse level), or None (nodes = vertices).
        iterations: rounds of averaging (0 returns ``init``).
        seed: seeds the per-view pixel sample.
        pixels: pixels per view read (at most).

    Returns:
        [R, D] float tensor of unit rows for nodes some sampled pixel covers, ``init``'s rows elsewhere.
    """
    import torch

    from .losses import jaccard_affinity

    if iterations <= 0 or not views:
        return init
    per_view = [
        (torch.from_numpy(nodes), torch.from_numpy(patches), jaccard_affinity(torch.from_numpy(v.votes)), len(v.votes))
        for v, nodes, patches in _node_patch_samples(views, node_of, seed, pixels)
    ]
    x = init.clone()
    touched = torch.zeros(len(init), dtype=torch.bool)
    for nodes, _, _, _ in per_view:
        touched[nodes] = True
    for _ in range(int(iterations)):
        acc = torch.zeros_like(x)
        for nodes, patches, jac, num_p in per_view:
            sums = torch.zeros(num_p, x.shape[1]).index_add_(0, patches, x.index_select(0, nodes))
            counts = torch.bincount(patches, minlength=num_p).clamp(min=1).to(x.dtype)
            voted = jac @ (sums / counts[:, None])  # [P, D]: each patch's vote-weighted mean
            acc.index_add_(0, nodes, voted.index_select(0, patches))
        x = torch.where(touched[:, None], torch.nn.functional.normalize(acc, dim=1), init)
    return x


class FitDivergedError(RuntimeError):
    """The loss became NaN or infinite: the fit stops and writes no field."""


def resolve_device(device: str = "auto"):
    """``auto`` -> CUDA when present, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
    return dev


def _view_masks(masks: Mapping[str, np.ndarray], name: str) -> tuple[np.ndarray, str]:
    """A view's masks as [M, H, W] bool (read once) and their content hash."""
    arr = np.asarray(masks[name], dtype=bool)
    return arr, _view_masks_hash(masks, name, arr)


def _view_masks_hash(masks: Mapping[str, np.ndarray], name: str, arr: np.ndarray | None = None) -> str:
    """:func:`masks_hash` of a view's masks; lazy mappings remember it, so it costs no second read."""
    memo = getattr(masks, "content_hash", None)
    if callable(memo):
        return memo(name)
    return masks_hash(masks[name] if arr is None else arr)


def _check_masks_for_views(scene: Scene, masks: Mapping[str, np.ndarray], allow_missing: bool) -> list:
    """The cameras to fit, in scene order; validates names and resolutions."""
    names = {cam.name for cam in scene.cameras}
    unknown = sorted(set(masks) - names)
    if unknown:
        raise ValueError(
            f"masks given for {len(unknown)} view(s) with no camera: {', '.join(unknown[:5])}; "
            f"camera views are: {', '.join(sorted(names)[:5])}{' ...' if len(names) > 5 else ''}. "
            "Fix the mask names (view name = image file name) or remove them"
        )
    missing = [cam.name for cam in scene.cameras if cam.name not in masks]
    if missing and not allow_missing:
        raise ValueError(
            f"{len(missing)} of {len(scene.cameras)} views have no masks: {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}; generate them (--sam-checkpoint) or pass --allow-missing-masks to skip those views"
        )
    if missing:
        log.warning("%d of %d views have no masks and are skipped", len(missing), len(scene.cameras))
    cams = [cam for cam in scene.cameras if cam.name in masks]
    if not cams:
        raise ValueError("no view has masks: nothing to fit; pass --masks DIR or --sam-checkpoint FILE")
    if not getattr(masks, "lazy", False):  # arrays in memory: check every shape before any work
        for cam in cams:
            _check_mask_shape(cam, np.shape(masks[cam.name]))
    return cams


def _check_mask_shape(cam, shape: tuple) -> None:
    if len(shape) != 3 or tuple(shape[1:]) != (cam.height, cam.width):
        raise ValueError(
            f"masks of view {cam.name!r} must have shape (M, {cam.height}, {cam.width}) to match its camera, "
            f"got {tuple(shape)}; resize them to the camera resolution (io.masks.load_masks does this)"
        )


def resolved_smooth_weight(config: FitConfig) -> float:
    """``config.smooth_weight``; None (config files written when it meant "auto") is 1.

    The term is on for meshes and point clouds alike (docs/fit.md, "Smoothness term"):
    a fitted vertex carries the noise of the few pixels that trained it, and averaging
    over the surface takes most of it out. On a point cloud nothing else couples
    neighbours; on a mesh a triangle's interpolation couples only the vertices one
    pixel falls between.
    """
    return 1.0 if config.smooth_weight is None else float(config.smooth_weight)


def smoothness_edges(scene: Scene) -> np.ndarray:
    """[E, 2] int64 edges of the smoothness term: a mesh's edges, or a point cloud's
    k-nearest-neighbour edges whose ends' normals agree within 60 degrees
    (:func:`omniseg3d_mesh.graph.surface_graph`), so the term does not blur one
    object into the support it touches.
    """
    from .graph import graph_edges, surface_graph

    return graph_edges(surface_graph(scene.vertices, scene.faces))


# A step draws at most this many times num_pixels smoothness edges: the drawn edges' rows join
# the step's sparse update, and uncapped (163k edges a step) the 2M x 300 bench fit took 975 s
# against 93 s on one CPU thread (docs/fit.md).
SMOOTH_MAX_EDGES_FACTOR = 4


def coarse_rows_target(config: FitConfig, num_vertices: int) -> int:
    """Coarse rows the fit asks :func:`~omniseg3d_mesh.graph.voxel_clusters` for: 0 (no
    coarse level) up to ``coarse_nodes`` vertices, then ``max(coarse_nodes, vertices /
    coarse_vertices)``."""
    if config.coarse_nodes <= 0 or num_vertices <= config.coarse_nodes:
        return 0
    return max(int(config.coarse_nodes), -(-int(num_vertices) // int(config.coarse_vertices)))


def scheduled_steps(config: FitConfig, num_vertices: int) -> int:
    """Steps the fit runs on a mesh of ``num_vertices``: ``config.steps``, or the smallest
    whole multiple of it that gives each coarse row about ``config.min_coarse_samples``
    vertex samples on average (each step's ``num_pixels`` pixels read 3 vertices, each
    vertex its coarse row), but never more than a row gets at the floor of
    ``coarse_nodes`` rows with ``config.steps``: the schedule only makes up for the coarse
    level growing with the mesh, and a fit whose budget is small on purpose (a quick
    preset) stays as small per row.

    Why: beyond ``coarse_nodes x coarse_vertices`` (210k) vertices the coarse level grows
    with the vertex count, so a fixed number of steps spreads its samples over more rows:
    at 2M vertices a coarse row gets about 80 samples in 1000 steps, against about 800 at
    90k, and the 2M rooms kept 85 % of the 90k rooms' part gap; with 2000 steps 89.9 %, with
    3000 (the default's choice there) 91.4 % (3 seeds, docs/fit.md).
    Whole multiples keep the fit's time predictable: 1x up to ~860k vertices, 3x at 2M.
    """
    steps = int(config.steps)
    rows = coarse_rows_target(config, num_vertices)
    if rows <= 0 or config.min_coarse_samples <= 0 or steps <= 0:
        return steps
    budget = steps * int(config.num_pixels) * 3  # vertex samples in `steps` steps
    wanted = min(float(config.min_coarse_samples), budget / int(config.coarse_nodes))
    return steps * max(1, math.ceil(wanted * rows / budget - 1e-9))


def smoothness_edges_per_step(num_edges: int, num_vertices: int, config: FitConfig, steps: int | None = None) -> int:
    """Edges the smoothness term draws each step: ``num_pixels``, or more on a large
    surface, so that over the fit it draws about ``smooth_edges_per_vertex`` edges per
    vertex, up to ``SMOOTH_MAX_EDGES_FACTOR`` x ``num_pixels`` a step (about 410k vertices
    with the defaults) and never more than the ``num_edges`` there are.

    ``steps``: the steps the fit runs (default ``config.steps``; see :func:`scheduled_steps`).

    Why: the term is a mean over the drawn edges, so how many a step draws does not
    change its expected gradient, but it sets how often each vertex is averaged with its
    neighbours. With a fixed number a step, a 500k-vertex mesh is averaged 5 times less
    often per vertex than a 100k one, and its field stays noisier (docs/fit.md).
    """
    n = int(config.num_pixels)
    steps = int(config.steps) if steps is None else int(steps)
    if config.smooth_edges_per_vertex > 0 and steps > 0:
        wanted = math.ceil(float(config.smooth_edges_per_vertex) * num_vertices / steps)
        n = max(n, min(wanted, SMOOTH_MAX_EDGES_FACTOR * n))
    return max(1, min(int(num_edges), n))


def min_patch_size(config: FitConfig, height: int, width: int) -> int:
    """Smallest patch (pixels) the loss uses in a ``height`` x ``width`` view.

    The larger of ``min_patch_pixels`` and ``min_patch_fraction`` of the image: thin
    "sliver" patches where two noisy mask outlines disagree would otherwise sit on
    the level of unrelated objects and pull thin parts apart (docs/results.md).
    """
    return max(int(config.min_patch_pixels), int(round(config.min_patch_fraction * height * width)))


def load_or_build_hierarchy(
    view_name: str, masks: np.ndarray, config: FitConfig, workspace: Workspace | None, masks_key: str | None = None
) -> Hierarchy:
    """The view's hierarchy, from ``hierarchy/<view>.npz`` when the masks are unchanged.

    ``masks_key``: :func:`masks_hash` of ``masks`` when the caller already has it.
    """
    min_patch = min_patch_size(config, masks.shape[-2], masks.shape[-1])
    if workspace is None:
        return build_hierarchy(
            masks, config.absorb_containment, config.containment_ratio, min_patch, config.min_patch_share
        )
    key = content_hash(
        HIERARCHY_VERSION,
        masks_key or masks_hash(masks),
        config.absorb_containment,
        config.containment_ratio,
        min_patch,
        config.min_patch_share,
    )
    path = workspace.hierarchy_path(view_name)
    if path.is_file():
        try:
            with np.load(path) as data:
                if str(data["key"]) == key:
                    return Hierarchy.from_npz(data)
        except Exception as exc:  # a corrupt cache entry is rebuilt, never fatal
            log.warning("rebuilding unreadable hierarchy cache %s (%s)", path, exc)
    hier = build_hierarchy(
        masks, config.absorb_containment, config.containment_ratio, min_patch, config.min_patch_share
    )
    # a cache checked by its key on read: no fsync needed (patch maps compress ~60x: 20 KB for 640x480, so DEFLATE stays)
    atomic_save_npz(path, compress=True, durable=False, key=np.array(key), **hier.to_npz_arrays())
    return hier


def _prepare_workers() -> int:
    """Threads that read masks and build hierarchies ahead of the fragment pass."""
    import os

    return max(1, min(8, os.cpu_count() or 1))


def prepare_views(
    scene: Scene,
    masks: Mapping[str, np.ndarray],
    config: FitConfig | None = None,
    workspace: Workspace | None = None,
    fragment_config: FragmentConfig | None = None,
    progress: ProgressCallback | None = None,
) -> list[ViewData]:
    """Fragments + hierarchy of every view with masks, reduced to the training pixels.

    Per view: its fragments (cache or backend, in this thread), its masks (read from
    ``masks`` once, so a lazy mapping such as ``load_masks(..., lazy=True)`` holds only
    the views in flight), its hierarchy; only the compact training pixels are kept
    (:class:`ViewData`). Masks and hierarchies of the next few views are read and
    built on worker threads while this one computes fragments (numpy and zlib release
    the GIL for the heavy parts); results are taken in view order, so the outcome does
    not depend on the number of threads. Per-view work is O(pixels), never O(vertices).
    """
    from concurrent.futures import ThreadPoolExecutor

    from .render.fragments import iter_fragments

    config, fragment_config = config or FitConfig(), fragment_config or FragmentConfig()
    cams = _check_masks_for_views(scene, masks, config.allow_missing_masks)

    def hierarchy_of(cam):
        view_masks, mhash = _view_masks(masks, cam.name)
        _check_mask_shape(cam, view_masks.shape)
        return load_or_build_hierarchy(cam.name, view_masks, config, workspace, masks_key=mhash), mhash

    views: list[ViewData] = []
    workers = _prepare_workers()
    ahead = 2 * workers  # views whose masks may be in memory at once
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare")
    pending: dict = {}
    submitted = 0
    try:
        frags_iter = iter_fragments(
            scene,
            cams,
            workspace,
            backend=fragment_config.backend,
            point_radius=fragment_config.point_radius,
            progress=progress,
        )
        for i, (cam, frags) in enumerate(frags_iter):
            while submitted < min(len(cams), i + ahead):
                pending[submitted] = pool.submit(hierarchy_of, cams[submitted])
                submitted += 1
            hier, mhash = pending.pop(i).result()
            report(progress, "hierarchy", i + 1, len(cams), patches=hier.num_patches)
            view = _training_pixels(scene, cam, frags, hier, mhash, config.boundary_radius)
            if view is not None:
                views.append(view)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    from .render.raycast import RaycastCache

    RaycastCache.release()  # every view's fragments are in hand: the fit needs the memory more than the BVH
    if not views:
        raise ValueError(
            "no view has a pixel that both sees the geometry and lies in a mask: check that the cameras "
            "look at the mesh (omniseg-mesh info) and that the masks belong to these images"
        )
    return views


def _training_pixels(scene: Scene, cam, frags, hier: Hierarchy, mhash: str, boundary_radius: int) -> ViewData | None:
    """The pixels of one view with both a surface hit and a patch, compact, with the ones in
    the ``boundary_radius`` band along its mask boundaries marked; None (and a warning) if none."""
    # flat indices + take: 10x faster than repeated boolean-mask indexing
    keep = np.flatnonzero((frags.valid & (hier.patch_map >= 0)).ravel())
    if not len(keep):
        log.warning("view %s has no pixel with both a surface hit and a mask; skipped", cam.name)
        return None
    patch_ids = hier.patch_map.ravel().take(keep)
    order = np.argsort(patch_ids, kind="stable")  # pixels grouped by patch, for mask-balanced sampling
    keep, patch_ids = keep[order], patch_ids[order]
    counts = np.bincount(patch_ids, minlength=hier.num_patches)
    view = ViewData(
        name=cam.name,
        patch_ids=patch_ids.astype(np.int32, copy=False),
        votes=hier.votes.astype(np.int32),
        masks_hash=mhash,
        patch_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        patch_mass=hier.mask_balanced_weights() * counts,
        boundary_idx=np.flatnonzero(hier.boundary_band(boundary_radius).ravel().take(keep)).astype(np.int32),
    )
    if frags.is_compact:
        view.face_ids = frags.face_ids.ravel().take(keep).astype(np.int32, copy=False)
        view.bary = frags.bary.reshape(-1, 2).take(keep, axis=0).astype(np.float16, copy=False)
        view.faces = scene.faces
    else:  # point clouds (K = 1)
        k = frags.vertex_ids.shape[-1]
        view.explicit_ids = frags.vertex_ids.reshape(-1, k).take(keep, axis=0).astype(np.int32, copy=False)
        view.explicit_weights = frags.weights.reshape(-1, k).take(keep, axis=0).astype(np.float16)
    return view


def _fit_key(
    scene: Scene,
    views: list[ViewData],
    masks: Mapping[str, np.ndarray],
    config: FitConfig,
    fragment_config: FragmentConfig,
) -> str:
    """What a checkpoint must match to be resumed: geometry, cameras, masks, settings."""
    cfg = {k: v for k, v in config_to_dict(config).items() if k not in _NOT_IN_KEY}
    cams = {cam.name: cam.fingerprint() for cam in scene.cameras}
    return content_hash(
        FIT_VERSION,
        scene.geometry_hash(),
        scene.num_vertices,
        cfg,
        config_to_dict(fragment_config),
        [(v.name, cams[v.name], v.masks_hash or _view_masks_hash(masks, v.name)) for v in views],
    )


def _cosine_lr(step: int, total: int, lr: float, lr_final: float) -> float:
    if total <= 1:
        return lr
    t = min(step / (total - 1), 1.0)
    return lr_final + 0.5 * (lr - lr_final) * (1.0 + math.cos(math.pi * t))


def _gather_step_rows(features, vertex_ids, node_of, fine_offset: int):
    """The rows one step reads, gathered once.

    Args:
        features: [R, D] the parameter (coarse rows, then one fine row per vertex).
        vertex_ids: [n] long vertex ids the step reads (repeats allowed).
        node_of: [V] long coarse row of each vertex, or None (one row per vertex).
        fine_offset: first fine row (the number of coarse rows; 0 without them).

    Returns:
        ``(rows [U] sorted unique row ids, sub [U, D] leaf copy of those rows that
        requires grad, f [n, D] the vertices' features read from ``sub``)``: after the
        backward, ``sub.grad`` is the step's gradient of ``rows``, summed per row, with no
        sparse backward or coalescing (on a 90k-vertex fit that was a quarter of a step).
    """
    import torch

    n = len(vertex_ids)
    wanted = vertex_ids + fine_offset
    if node_of is not None:
        wanted = torch.cat([node_of.index_select(0, vertex_ids), wanted])
    rows, inverse = torch.unique(wanted, return_inverse=True)
    sub = features.detach().index_select(0, rows).requires_grad_(True)
    if node_of is None:
        return rows, sub, sub.index_select(0, inverse)
    return rows, sub, sub.index_select(0, inverse[:n]) + sub.index_select(0, inverse[n:])


def _row_gradient(param, rows, values, sparse: bool):
    """``param``'s gradient from the ``values`` [U, D] of its sorted, unique ``rows`` [U].

    ``sparse``: a coalesced sparse COO tensor, what the lazy optimizers (SparseAdam,
    :class:`~omniseg3d_mesh.optim.BlockAdam`) read, so a step moves only these rows;
    else dense, zero elsewhere (dense Adam).
    """
    import torch

    if sparse:
        return torch.sparse_coo_tensor(
            rows.unsqueeze(0), values, tuple(param.shape), is_coalesced=True, check_invariants=False
        )
    return torch.zeros_like(param).index_copy_(0, rows, values)


CHECKPOINT_FORMAT = 2


def _save_checkpoint(path: Path, key: str, step: int, features, optimizer, loss: float) -> None:
    """Write ``checkpoints/fit.pt`` atomically, holding only tensors, numbers and strings.

    The Adam state is flattened (one tensor per state entry, the parameter-group
    settings as a JSON string) so that :func:`_load_checkpoint` can read it with
    ``torch.load(weights_only=True)``: a checkpoint from someone else's workspace can
    never run code on this machine.
    """
    import json

    import torch

    sd = optimizer.state_dict()
    state: dict = {
        "format": CHECKPOINT_FORMAT,
        "key": str(key),
        "step": int(step),
        "loss": float(loss),
        "features": features.detach().cpu().contiguous(),
        "param_groups": json.dumps(sd["param_groups"]),
    }
    for pid, entries in sd["state"].items():
        for name, value in entries.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            state[f"state.{int(pid)}.{name}"] = value.detach().cpu().contiguous()
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def _load_checkpoint(path: Path, key: str):
    """The checkpoint at ``path`` if it belongs to ``key``, else None (the fit starts over).

    Loaded with ``torch.load(weights_only=True)``: a file whose pickle would build any
    object other than tensors, numbers, strings, lists and dicts (e.g. call
    ``os.system``) is refused before anything in it runs, with a warning.

    Returns:
        ``{"key", "step", "loss", "features", "optimizer"}``; ``optimizer`` is a state
        dict for ``torch.optim.Adam.load_state_dict``.
    """
    import json
    import pickle

    import torch

    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:  # not a pickle of ours at all: treated like any unreadable file
            log.warning(
                "ignoring unreadable fit checkpoint %s (not a checkpoint written by omniseg-mesh); the fit starts over",
                path,
            )
            return None
        log.warning(
            "refusing fit checkpoint %s: it holds objects other than tensors, numbers and strings, which could "
            "run code when loaded (it calls or builds %s); nothing in it was run and the fit starts over. "
            "Delete the file if you did not write it",
            path,
            found.group(1),
        )
        return None
    except Exception as exc:  # unreadable -> start over, never fatal
        log.warning("ignoring unreadable fit checkpoint %s (%s); the fit starts over", path, exc)
        return None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        log.warning("ignoring fit checkpoint %s written by another version; the fit starts over", path)
        return None
    if ckpt.get("key") != key:
        log.info("fit checkpoint %s belongs to other inputs or settings; starting over", path)
        return None
    try:
        state: dict = {}
        for name, value in ckpt.items():
            if name.startswith("state."):
                _, pid, entry = name.split(".", 2)
                state.setdefault(int(pid), {})[entry] = value
        optimizer = {"state": state, "param_groups": json.loads(ckpt["param_groups"])}
        return {
            "key": ckpt["key"],
            "step": int(ckpt["step"]),
            "loss": float(ckpt["loss"]),
            "features": ckpt["features"],
            "optimizer": optimizer,
        }
    except (KeyError, ValueError, TypeError) as exc:
        log.warning("ignoring malformed fit checkpoint %s (%s); the fit starts over", path, exc)
        return None


def _optimizer_to(optimizer, device) -> None:
    for state in optimizer.state.values():
        for k, v in state.items():
            if hasattr(v, "to") and k != "step":
                state[k] = v.to(device)


def _keep_freed_memory_for_reuse() -> None:
    """Let glibc reuse freed buffers of up to 32 MB instead of returning them to the OS.

    The step loop allocates and frees the same [V, D] buffers every step (gradients,
    optimizer temporaries: 6 MB at 90k vertices). glibc serves blocks above its mmap
    threshold with a fresh mmap, page-faulted in on every step, and raises that
    threshold (up to 32 MB) only after a process has freed a larger mmapped block --
    so the loop's speed depended on what happened to be allocated before it (measured:
    the same 300 steps took 8 s or 10.5 s). This pins the state glibc's own heuristic
    ends in (threshold 32 MB, trim threshold twice that). Linux/glibc only; elsewhere
    a no-op.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        libc.mallopt(m_mmap_threshold, 32 * 2**20)
        libc.mallopt(m_trim_threshold, 64 * 2**20)
    except (OSError, AttributeError):  # not glibc
        pass


_MALLOC_TUNED = False


def fit_field(
    scene: Scene,
    masks: Mapping[str, np.ndarray],
    config: FitConfig | None = None,
    workspace: Workspace | None = None,
    fragment_config: FragmentConfig | None = None,
    progress: ProgressCallback | None = None,
) -> Field:
    """Lift multi-view masks into a per-vertex feature field.

    Args:
        scene: geometry + cameras (OpenCV axes).
        masks: view name -> [M, H, W] bool proposals at the camera's resolution.
        config: fit settings (:class:`~omniseg3d_mesh.config.FitConfig`).
        workspace: where fragments, hierarchies and checkpoints are cached (None = no cache, no resume).
        fragment_config: fragment backend.
        progress: ``progress(stage, done, total, **info)`` for stages ``fragments``,
            ``hierarchy`` and ``fit`` (info: ``loss``, ``steps_per_s``).

    Returns:
        :class:`~omniseg3d_mesh.field.Field` with unit-length features [V, D] and meta
        (config, geometry_hash, num_vertices, source, views, steps, steps_done, version).
    """
    import torch

    config, fragment_config = config or FitConfig(), fragment_config or FragmentConfig()
    device = resolve_device(config.device)
    _keep_freed_memory_for_reuse()
    threads_before = torch.get_num_threads()
    if config.num_threads > 0:
        torch.set_num_threads(int(config.num_threads))
    try:
        return _fit(scene, masks, config, workspace, fragment_config, progress, device)
    finally:
        torch.set_num_threads(threads_before)


def _fit(scene, masks, config, workspace, fragment_config, progress, device) -> Field:
    import torch

    from .graph import diffuse_features, vertex_graph
    from .losses import affinity_loss, hierarchical_contrastive_loss, norm_loss

    t0 = time.perf_counter()
    views = prepare_views(scene, masks, config, workspace, fragment_config, progress)
    t_prep = time.perf_counter() - t0
    num_v = scene.num_vertices
    geometry_hash = scene.geometry_hash()
    log.info(
        "fit: %d views, %d training pixels (%.0f MB), %d vertices, device %s",
        len(views),
        sum(v.num_pixels for v in views),
        sum(v.nbytes for v in views) / 2**20,
        num_v,
        device,
    )

    if config.loss not in ("affinity", "contrastive", "both"):
        raise ValueError(f"unknown loss {config.loss!r}: use affinity, contrastive or both")
    # training data as tensors (zero-copy on CPU)
    # compact pixels stay compact on the device (triangle id + 2 weights); a step expands only its samples
    t_faces = (
        torch.from_numpy(np.ascontiguousarray(scene.faces, dtype=np.int32)).to(device)
        if any(v.is_compact for v in views)
        else None
    )
    t_a = [torch.from_numpy(v.face_ids if v.is_compact else v.explicit_ids).to(device) for v in views]
    t_b = [torch.from_numpy(v.bary if v.is_compact else v.explicit_weights).to(device) for v in views]

    def pixels(vi: int, idx):
        """(vertex ids [n, K] long, weights [n, K] float) of sampled pixels ``idx`` of view ``vi``."""
        if views[vi].is_compact:
            ids_v, w_v = pixel_vertices(t_faces, t_a[vi].index_select(0, idx), t_b[vi].index_select(0, idx))
            return ids_v.long(), w_v.float()
        return t_a[vi].index_select(0, idx).long(), t_b[vi].index_select(0, idx).float()

    t_patch = [torch.from_numpy(v.patch_ids).to(device) for v in views]
    t_votes = [torch.from_numpy(v.votes).to(device) for v in views]
    seen = np.zeros(num_v, dtype=bool)
    for v in views:
        vids = v.vertex_ids[v.weights > 0]
        seen[vids[vids >= 0]] = True

    seen_ids = torch.from_numpy(np.flatnonzero(seen)).to(device)
    gen = torch.Generator().manual_seed(int(config.seed))
    # Two-level parametrisation: f_v = coarse[node(v)] + fine[v]. The coarse rows (one per
    # voxel of a grid with about coarse_nodes occupied cells) collect the samples of all
    # their vertices, so how many samples a parameter gets does not fall with the vertex
    # count; the fine rows (zero at start) add per-vertex detail where samples allow.
    # Both live in one parameter tensor: rows [0, C) coarse, rows [C, C + V) fine.
    num_nodes, node_of = 0, None
    coarse_target = coarse_rows_target(config, num_v)
    if coarse_target > 0:
        from .graph import voxel_clusters

        labels, num_nodes = voxel_clusters(scene.vertices, coarse_target, mask=seen)
        node_of = torch.from_numpy(labels).to(device)
    rows = num_nodes if node_of is not None else num_v
    total_steps = scheduled_steps(config, num_v)
    if total_steps != config.steps:
        log.info("fit: %d steps (%d coarse rows: %.0f samples each in %d steps)", total_steps, coarse_target,
                 config.steps * config.num_pixels * 3 / coarse_target, config.steps)  # fmt: skip
    init = torch.randn(rows, config.feature_dim, generator=gen) / math.sqrt(config.feature_dim)
    if config.vote_init_iters > 0:
        t_vote = time.perf_counter()
        init = vote_embedding(
            views, init, None if node_of is None else labels, int(config.vote_init_iters), int(config.seed)
        )
        log.info("fit: vote initialisation %.2f s", time.perf_counter() - t_vote)
    if node_of is not None:
        init = torch.cat([init, torch.zeros(num_v, config.feature_dim)])
    features = torch.nn.Parameter(init.to(device))

    lazy = config.optimizer in ("lazy_adam", "block_adam")

    # Dense Adam keeps moving a row on its momentum for ~10 steps after a sample, by about 30 lr
    # in all: on a large mesh, where a vertex is sampled a handful of times in the whole fit, that
    # drift is most of what its fine row learns. The lazy variants update only sampled rows. Lazy
    # Adam still moves a row sampled once by about 2-3 lr in every dimension, whatever its
    # gradient (its second moment is that one gradient squared): block_adam's fine rows lean on
    # the block's second moment until they have samples of their own (omniseg3d_mesh.optim).
    optimizer: torch.optim.Optimizer
    if config.optimizer == "block_adam":
        from .optim import BlockAdam

        # The fine rows (per vertex, under a coarse level) form the block. A mesh with no coarse
        # level is small enough that every vertex row gets many samples: SparseAdam's steps.
        optimizer = BlockAdam(
            [features],
            lr=config.lr,
            shared_from=num_nodes if node_of is not None else rows,
            prior_count=config.block_prior,
        )
    elif lazy:
        optimizer = torch.optim.SparseAdam([features], lr=config.lr)
    else:
        optimizer = torch.optim.Adam([features], lr=config.lr)

    edges, edges_per_step = None, 0
    smooth_weight = resolved_smooth_weight(config)
    if smooth_weight > 0:
        edges = torch.from_numpy(smoothness_edges(scene)).to(device)
        edges_per_step = smoothness_edges_per_step(len(edges), num_v, config, total_steps)

    key = _fit_key(scene, views, masks, config, fragment_config)
    ckpt_path = workspace.checkpoints_dir / "fit.pt" if workspace is not None else None
    start = 0
    last_loss = float("nan")
    if ckpt_path is not None:
        ckpt = _load_checkpoint(ckpt_path, key)
        if ckpt is not None:
            with torch.no_grad():
                features.copy_(ckpt["features"].to(device))
            optimizer.load_state_dict(ckpt["optimizer"])
            if lazy:  # SparseAdam counts steps in a Python int (its bias correction in float64): keep it so
                for st in optimizer.state.values():
                    st["step"] = int(st["step"])
            _optimizer_to(optimizer, device)
            start = int(ckpt["step"])
            last_loss = float(ckpt.get("loss", float("nan")))
            log.info("resuming fit from step %d of %d (%s)", start, total_steps, ckpt_path)

    pool = None  # spread pairs with the masks' co-membership as their target (spread_votes)
    if config.spread_votes and config.spread_weight > 0 and len(seen_ids) > 1:
        t_pool = time.perf_counter()
        prng = np.random.default_rng([int(config.seed), 11])
        seen_np = seen_ids.cpu().numpy()
        pairs_np = seen_np[prng.integers(0, len(seen_np), (SPREAD_POOL, 2))]
        target_np, _ = vote_pair_targets(
            views,
            pairs_np,
            None if node_of is None else labels,
            num_nodes if node_of is not None else num_v,
            config.seed,
        )
        pool = (torch.from_numpy(pairs_np).to(device), torch.from_numpy(target_np).to(device))
        log.info("fit: spread pairs with co-membership targets %.2f s", time.perf_counter() - t_pool)

    t_fit = time.perf_counter()
    use_affinity = config.loss in ("affinity", "both")
    use_contrastive = config.loss in ("contrastive", "both")
    per_step = max(1, min(int(config.views_per_step), len(views)))
    for step in range(start, total_steps):
        # Every random draw of the step first, in a fixed order (views, pixels, spread pairs,
        # smoothness edges), so that the same seed and step give the same batch.
        rng = np.random.default_rng([int(config.seed), step])
        picked = rng.choice(len(views), per_step, replace=False) if per_step > 1 else [int(rng.integers(len(views)))]
        n_per = max(2, config.num_pixels // per_step)
        idx_list = [
            torch.from_numpy(views[vi].sample(rng, n_per, config.mask_balanced, config.boundary_share)).to(device)
            for vi in picked
        ]
        sampled = [pixels(vi, idx) for vi, idx in zip(picked, idx_list)]
        ids = torch.cat([a for a, _ in sampled]).clamp(min=0)  # [n, K] (a point's -1 has weight 0)
        w = torch.cat([b for _, b in sampled])
        pair = target = None
        if config.spread_weight > 0 and len(seen_ids) > 1:
            if pool is None:
                pair = seen_ids[
                    torch.from_numpy(rng.integers(0, len(seen_ids), (config.num_pixels // 2, 2))).to(device)
                ]
            else:
                pick = torch.from_numpy(rng.integers(0, len(pool[0]), config.num_pixels // 2)).to(device)
                pair, target = pool[0].index_select(0, pick), pool[1].index_select(0, pick)
        e = None
        if edges is not None:
            # random edges, as many as pixels up to ~100k vertices and more beyond (smoothness_edges_per_step)
            e = edges[torch.from_numpy(rng.integers(0, len(edges), edges_per_step)).to(device)]

        # the vertices the step reads: pixels' corners, spread pairs, smoothness edges
        read = {"pixels": ids.reshape(-1)}
        if pair is not None:
            read["pairs"] = pair.reshape(-1)
        if e is not None:
            read["edges"] = e.reshape(-1)
        rows_u, sub, step_f = _gather_step_rows(features, torch.cat(list(read.values())), node_of, num_nodes)
        f_read = dict(zip(read, torch.split(step_f, [len(x) for x in read.values()])))

        lr = _cosine_lr(step, total_steps, config.lr, config.lr_final)
        for group in optimizer.param_groups:
            group["lr"] = lr
        pix = (f_read["pixels"].view(ids.shape[0], ids.shape[1], -1) * w[:, :, None]).sum(dim=1)
        loss = pix.sum() * 0.0
        offset = 0
        for vi, idx in zip(picked, idx_list):
            n_v = len(idx)
            f_v = pix[offset : offset + n_v]
            patches = t_patch[vi].index_select(0, idx).long()
            offset += n_v
            if use_affinity:
                loss = loss + affinity_loss(f_v, patches, t_votes[vi]) / per_step
            if use_contrastive:
                loss = loss + hierarchical_contrastive_loss(
                    f_v, patches, t_votes[vi], hier_lambda=config.hier_lambda, alpha=config.temperature_alpha
                ) * (config.contrastive_weight / per_step)
        if config.norm_weight > 0:
            loss = loss + config.norm_weight * norm_loss(pix)
        if pair is not None:
            g = torch.nn.functional.normalize(f_read["pairs"], dim=1).view(-1, 2, features.shape[1])
            cos = (g[:, 0] * g[:, 1]).sum(1)
            if target is None:
                loss = loss + config.spread_weight * torch.relu(cos).pow(2).mean()
            else:  # pairs the masks join regress their co-membership; the rest only point away
                err = torch.where(target > 0, cos - target, torch.relu(cos))
                loss = loss + config.spread_weight * err.pow(2).mean()
        if e is not None:
            fe = f_read["edges"].view(-1, 2, features.shape[1])
            loss = loss + smooth_weight * (fe[:, 0] - fe[:, 1]).pow(2).sum(1).mean()
        loss.backward()
        features.grad = _row_gradient(features, rows_u, sub.grad, sparse=lazy)  # only the rows read
        optimizer.step()
        features.grad = None

        done = step + 1
        checkpoint = (
            ckpt_path is not None
            and config.checkpoint_every > 0
            and (done % config.checkpoint_every == 0 or done == total_steps)
        )
        if checkpoint or done % 10 == 0 or done == total_steps:
            last_loss = float(loss.detach())  # a device sync: only every few steps
            if not math.isfinite(last_loss):
                raise FitDivergedError(
                    f"the fit diverged at step {done}: the loss is {last_loss}; nothing was written "
                    f"(an existing field.npz is kept). Lower the learning rate (now --lr {config.lr:g}) and run fit again"
                )
        if checkpoint and ckpt_path is not None:
            _save_checkpoint(ckpt_path, key, done, features, optimizer, last_loss)
        if done % 10 == 0 or done == total_steps:
            elapsed = time.perf_counter() - t_fit
            report(progress, "fit", done, total_steps, loss=last_loss, steps_per_s=(done - start) / max(elapsed, 1e-9))
    fit_seconds = time.perf_counter() - t_fit

    with torch.no_grad():
        if node_of is None:
            feats = features.detach().cpu().numpy().astype(np.float32)
        else:
            feats = (features[node_of] + features[num_nodes:]).cpu().numpy().astype(np.float32)
    n_unseen = int((~seen).sum())
    if n_unseen and seen.any():
        adj = vertex_graph(scene.vertices, scene.faces)
        feats = diffuse_features(feats, seen, adj, iterations=config.diffusion_iters)
    feats = normalize_features(feats)

    from . import __version__

    meta = {
        "config": config_to_dict(config),
        "fragment_config": config_to_dict(fragment_config),
        "geometry_hash": geometry_hash,
        "num_vertices": num_v,
        "feature_dim": int(config.feature_dim),
        "source": str(scene.source) if scene.source is not None else None,
        "views": [v.name for v in views],
        "steps": int(total_steps),  # config.steps, or a multiple on a large mesh (scheduled_steps)
        "steps_done": int(total_steps),
        "unseen_vertices": n_unseen,
        "coarse_nodes": int(num_nodes),  # 0: per-vertex rows only
        "smooth_weight": smooth_weight,  # as applied (None in older config files = 1)
        "smooth_edges_per_step": int(edges_per_step),  # 0 with the term off
        "final_loss": last_loss,
        "prepare_seconds": round(t_prep, 3),
        "fit_seconds": round(fit_seconds, 3),
        "device": str(device),
        "fit_version": FIT_VERSION,
        "version": __version__,
    }
    return Field(features=feats, meta=meta)
