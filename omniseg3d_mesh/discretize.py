"""Whole-scene discretization of a feature field into a hierarchy of parts.

Pipeline (all steps vectorised; nothing loops over vertices in Python):

0. **Denoising** (:func:`smooth_features`): two edge-aware averaging sweeps (a vertex
   averages with the neighbours it agrees with), used only to build superpoints; the
   over-segmentation threshold drops to the lower quartile of neighbour agreement when
   the field is noisier than ``superpoint_threshold`` assumes.
1. **Superpoints** (:func:`oversegment`): connected components of the vertex graph
   restricted to edges whose features agree (cosine >= ``superpoint_threshold``).
   Chaining along a slow feature drift is caught by checking each component's
   spread (a member further than the threshold from its component mean splits the
   component again with a stricter edge threshold, until no member strays), and components larger than
   ``max_superpoint_size`` are cut by a spatial grid and re-split into connected
   pieces. A 1M-vertex mesh becomes a few thousand superpoints.
2. **HDBSCAN** (scikit-learn) on the superpoints' mean features. Density must count
   vertices, not superpoints, so a superpoint is *repeated* in proportion to its
   size (``ceil(size / unit)`` samples, ``unit`` chosen so that at most
   ``max_samples`` rows go in): sklearn's HDBSCAN takes no sample weights, and
   repetition is the integer-weight equivalent. Exact copies would sit at distance
   0, which HDBSCAN reads as infinite density (every superpoint would stay a cluster
   of its own), so the samples are drawn around the mean with the superpoint's
   spread in the *denoised* field. A superpoint takes the majority label of its
   samples. With more superpoints than ``max_samples`` (a very noisy field),
   HDBSCAN runs on a size-weighted sample of them and the rest take the label of
   their most similar sampled superpoint. Density counts ``min_samples`` (15) rows, so
   the superpoints along a welded scan's seams (features between the two objects) do
   not chain two objects into one cluster.
3. **Post-processing** on the mesh graph: HDBSCAN's noise superpoints that neighbour
   each other and agree as closely as the first coarser level merges form clusters of
   their own (``keep_noise_pieces``: a small object welded to its support is noise to
   HDBSCAN, and merging it into its neighbour deleted it); a cluster that falls apart
   into several graph components becomes several parts; noise and parts smaller than
   ``min_part_size`` join the neighbouring part (graph neighbour) with the most
   similar mean feature, repeatedly, until none is left (an isolated piece with no
   neighbour stays a part of its own). When that leaves the whole mesh one part
   (``eom`` selection can keep one dominant cluster plus specks; a psb-dev bust did),
   HDBSCAN's ``leaf`` clusters are taken instead, and the levels above decide how far
   to merge them.
4. **Hierarchy** (:class:`PartTree`): sklearn's HDBSCAN does not expose its
   condensed tree, so coarser levels are built by average-linkage agglomerative
   clustering of the parts' mean features (cosine), cut at the similarity schedule
   ``level_similarities`` (level k merges everything whose average similarity is at
   least ``level_similarities[k-1]``). Cuts of one dendrogram at increasing
   heights nest by construction: every coarser cluster is a union of finer ones.
   Coarser levels are not required to be graph-connected (an object made of
   separate mesh pieces is still one object). Unless ``level`` is given, the
   default level is the cut the training masks agree with when they are passed
   (``views``; :func:`mask_split_votes`, :meth:`PartTree.mask_num_parts`: the cut of the
   dendrogram most mask votes agree with, a mask voting to keep apart the two sides
   of a merge when it holds one of them and not the other), else the
   dendrogram's most persistent cut
   (:meth:`PartTree.stable_num_parts`; ranges of thresholds counted from the field's
   spread within a part, :func:`part_noise_floor`, not from 0), inserted as a level of its own when no
   level of the schedule matches it (``num_parts`` inserts the cut with that many
   parts); cuts of one dendrogram nest, so the levels still do.

Between 3 and 4, **boundary snapping** (:func:`snap_boundaries`): the labels of a
band of ``snap_distance`` around every boundary are redrawn by a multi-source
Dijkstra from the parts' confident interiors, with edges cheap to cross where the
field changes most and where the surface folds inward (:func:`boundary_costs`), so
cuts land on concave creases and on the field's sharpest transitions; a majority
sweep smooths ragged borders and step 3 runs again so no island is left.

The vertex graph comes from :func:`omniseg3d_mesh.graph.vertex_graph` (unbridged) and the
feature normalisation and smoothing from :mod:`omniseg3d_mesh.field`; reading a workspace
and exporting the parts are :func:`omniseg3d_mesh.pipeline.discretize_workspace`'s job.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from .config import DiscretizeConfig
from .field import check_field_geometry, normalize_features, smooth_features
from .graph import edge_arrays, edge_components, vertex_graph
from .progress import ProgressCallback, report

log = logging.getLogger(__name__)

__all__ = [
    "PartTree",
    "Discretizer",
    "discretize",
    "oversegment",
    "boundary_costs",
    "snap_boundaries",
    "part_noise_floor",
    "pixel_vertices",
    "mask_split_votes",
]


# --------------------------------------------------------------------------- helpers
def _group_means(features: np.ndarray, labels: np.ndarray, k: int, spread: bool = False):
    """Per label: unit mean feature [k, D] and size [k] (and, with ``spread``, the
    per-dimension standard deviation [k] of unit-length members around their raw mean)."""
    sizes = np.bincount(labels, minlength=k).astype(np.int64)
    sums = np.zeros((k, features.shape[1]), np.float64)
    _add_rows(sums, labels, features)
    if not spread:
        return normalize_features(sums), sizes
    raw = sums / np.maximum(sizes, 1)[:, None]
    var = np.clip(1.0 - (raw**2).sum(1), 0.0, None) / features.shape[1]
    return normalize_features(sums), sizes, np.sqrt(var)


def _add_rows(out: np.ndarray, labels: np.ndarray, values: np.ndarray) -> None:
    """``out[labels] += values`` for many rows (sort + reduceat, faster than np.add.at)."""
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    out[lab[starts]] += np.add.reduceat(values[order].astype(np.float64), starts, axis=0)


def oversegment(
    features: np.ndarray,
    adjacency: sp.csr_matrix,
    vertices: np.ndarray | None = None,
    threshold: float = 0.95,
    max_size: int = 2000,
    refine_rounds: int = 16,
) -> np.ndarray:
    """Graph-connected superpoints of similar feature.

    Args:
        features: [V, D] float32 unit-length features.
        adjacency: [V, V] symmetric vertex graph.
        vertices: [V, 3] positions, used to cut superpoints larger than ``max_size``
            (without them big superpoints are kept whole).
        threshold: neighbouring vertices join when their cosine similarity is at least this.
        max_size: largest superpoint in vertices (0 = unlimited).
        refine_rounds: most rounds of re-splitting components whose members stray from
            their mean; each round halves the gap to 1 of the edge threshold inside such a
            component, and the rounds stop when no member strays. A field fitted with the
            smoothness term changes gradually across a part boundary, every edge on the way
            agreeing above 0.99, so chained components need more than a few rounds (psb-dev,
            docs/results.md: with three rounds the smoothed fields came out in 2 parts where the humans draw 4).

    Returns:
        [V] int64 superpoint ids 0..S-1; every superpoint is connected on the graph.
    """
    f = normalize_features(features)
    n = len(f)
    u, v = edge_arrays(adjacency)
    cos = np.einsum("ij,ij->i", f[u], f[v]) if len(u) else np.zeros(0, np.float32)
    keep = cos >= threshold
    k, lab = edge_components(n, u[keep], v[keep])
    # chaining guard: a component whose members stray from its mean is split again
    edge_t = np.full(len(u), float(threshold), np.float32)
    for _ in range(int(refine_rounds)):
        means, _ = _group_means(f, lab, k)
        sim = np.einsum("ij,ij->i", f, means[lab])
        bad_comp = np.zeros(k, bool)
        bad_comp[lab[sim < threshold - (1.0 - threshold)]] = True
        if not bad_comp.any():
            break
        inside = bad_comp[lab[u]] & (lab[u] == lab[v])
        edge_t[inside] = (1.0 + edge_t[inside]) / 2.0
        keep = (cos >= edge_t) & (lab[u] == lab[v])
        k, lab = edge_components(n, u[keep], v[keep])
    # size cap: cut large components with a spatial grid, then re-split into connected pieces
    if max_size and vertices is not None:
        sizes = np.bincount(lab, minlength=k)
        big = np.flatnonzero(sizes > max_size)
        if len(big):
            pts = np.asarray(vertices, np.float64)
            cell_id = np.zeros(n, np.int64)
            order = np.argsort(lab, kind="stable")
            starts = np.r_[0, np.cumsum(sizes)]
            for c in big:  # a handful of big components; vectorised inside
                idx = order[starts[c] : starts[c + 1]]
                p = pts[idx]
                lo = p.min(0)
                ext = np.sort(np.maximum(p.max(0) - lo, 1e-9))[::-1]
                # a surface piece: cell side ~ sqrt(area / pieces), area ~ two largest extents
                h = math.sqrt(ext[0] * ext[1] / (sizes[c] / max_size))
                g = np.floor((p - lo) / max(h, 1e-9)).astype(np.int64)
                dimsz = g.max(0) + 1
                cell_id[idx] = (g[:, 0] * dimsz[1] + g[:, 1]) * dimsz[2] + g[:, 2] + 1
            keep = keep & (cell_id[u] == cell_id[v])
            k, lab = edge_components(n, u[keep], v[keep])
    return lab


# --------------------------------------------------------------------------- boundaries
def boundary_costs(
    features: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    creases: np.ndarray | None = None,
    crease_weight: float = 1.0,
) -> np.ndarray:
    """[E] cost of cutting each graph edge (u, v): low where a boundary belongs.

    Cost = ``agreement - crease_weight * crease``, both in about [0, 1]: the field's
    agreement across the edge (cosine, rescaled between its 1 % quantile and its median
    so a weak but real transition still counts) minus the fold of the surface there. A
    crease is a line of mesh edges and a vertex labelling cuts the edges that cross it,
    i.e. the edges touching it, so an edge takes the larger of its two vertices'
    ``creases`` (:func:`~omniseg3d_mesh.graph.vertex_creases`), counted fully from a 45
    degree fold. Where the field is sure its transition dominates; where it blurs over
    several rings the crease decides.
    """
    f = normalize_features(features) if features.dtype != np.float32 else features
    cos = np.einsum("ij,ij->i", f[u], f[v]).astype(np.float64) if len(u) else np.zeros(0)
    if len(cos) == 0:
        return cos
    lo, hi = np.quantile(cos, [0.01, 0.5])
    agree = np.clip((cos - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    if creases is None or crease_weight <= 0:
        return agree
    # a fold of 45 degrees or more counts fully: (1 - cos 45) / 2 = 0.146
    crease = np.clip(np.maximum(creases[u], creases[v]) / 0.146, 0.0, 1.0)
    return agree - float(crease_weight) * crease


def snap_boundaries(
    labels: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    features: np.ndarray,
    rings: int,
    creases: np.ndarray | None = None,
    crease_weight: float = 1.0,
    sharpness: float = 8.0,
    uncertain: float = 0.0,
) -> np.ndarray:
    """Move part boundaries, within ``rings`` graph rings of where they are or wherever the
    field is unsure, onto the cheapest edges.

    Vertices within ``rings`` rings of a boundary lose their label, and so do (with
    ``uncertain`` > 0) the vertices the field is unsure of: those whose similarity to
    their part's mean beats the next most similar part's by less than ``uncertain``
    times the distance between the two parts' means (a blurred transition). The rest (the parts'
    confident interiors) are seeds. Each band vertex then joins the seed it reaches most
    cheaply, an edge costing ``exp(sharpness * (d - 1))`` with ``d = (1 - cost) / 2``
    (:func:`boundary_costs` of the band's edges): a path avoids the least agreeing edges
    (creases, the field's sharpest transitions), so parts meet there (a smooth form of
    the watershed). A part whose every vertex lies in the band keeps its most typical
    vertex as a seed, so no part vanishes. Finally two majority
    sweeps smooth ragged borders (a band vertex with over two thirds of its neighbours in
    another part joins it).

    Args:
        labels: [V] int part ids 0..P-1.
        u, v: [E] graph edges.
        features: [V, D] unit features.
        rings: band half-width in rings (0 and ``uncertain`` 0 = no change).
        creases: optional [V] vertex fold strengths and their weight (:func:`boundary_costs`).

    Returns:
        [V] int64 labels (same ids).
    """
    lab0 = np.asarray(labels, dtype=np.int64)
    n = len(lab0)
    if (rings <= 0 and uncertain <= 0) or len(u) == 0:
        return lab0.copy()
    cut = lab0[u] != lab0[v]
    if not cut.any():
        return lab0.copy()
    band = np.zeros(n, bool)
    band[u[cut]] = band[v[cut]] = True
    for _ in range(int(rings) - 1):
        grow = band[u] | band[v]
        band[u[grow]] = band[v[grow]] = True
    p = int(lab0.max()) + 1
    f = normalize_features(features)
    band |= _unsure(f, lab0, p, uncertain)
    # seeds are the confident interiors: stray confident vertices inside the band (noise)
    # would start floods of their own, so seed pieces much smaller than their part's main
    # interior piece join the band
    seed_edge = ~band[u] & ~band[v] & (lab0[u] == lab0[v])
    k, comp = edge_components(n, u[seed_edge], v[seed_edge])
    comp_size = np.bincount(comp, minlength=k)
    comp_size[np.unique(comp[band])] = 0  # band vertices are singletons here, not seed pieces
    comp_lab = np.zeros(k, np.int64)
    comp_lab[comp] = lab0
    biggest = np.zeros(p, np.int64)
    np.maximum.at(biggest, comp_lab, comp_size)
    band |= comp_size[comp] < np.maximum(10, 0.05 * biggest[lab0])
    lab = np.where(band, -1, lab0)
    has_seed = np.zeros(p, bool)
    has_seed[lab[lab >= 0]] = True
    if not has_seed.all():
        lost = np.flatnonzero(~has_seed)
        members = np.flatnonzero(np.isin(lab0, lost))
        means, _ = _group_means(f, lab0, p)
        typ = np.einsum("ij,ij->i", f[members], means[lab0[members]])
        order = np.lexsort((-typ, lab0[members]))
        first = np.r_[True, lab0[members][order][1:] != lab0[members][order][:-1]]
        seeds = members[order][first]
        lab[seeds] = lab0[seeds]
    # each band vertex joins the seed it reaches most cheaply, where crossing a low-cost edge
    # (crease, sharp transition) costs about as much as walking ~50 agreeing edges: one
    # multi-source Dijkstra over the band (scipy, in C), a smooth stand-in for the watershed
    e_in = band[u] | band[v]
    bu, bv = u[e_in], v[e_in]
    d = np.clip((1.0 - boundary_costs(f, bu, bv, creases, crease_weight)) / 2.0, 0.0, 1.0)
    w = np.exp(float(sharpness) * (d - 1.0)) + 1e-6
    nodes = np.unique(np.r_[bu, bv])
    idx = np.full(n, -1, np.int64)
    idx[nodes] = np.arange(len(nodes))
    g = sp.csr_matrix((np.r_[w, w], (np.r_[idx[bu], idx[bv]], np.r_[idx[bv], idx[bu]])), shape=(len(nodes), len(nodes)))
    seeds = np.flatnonzero(lab[nodes] >= 0)
    if len(seeds):
        _, _, src = csgraph.dijkstra(g, directed=False, indices=seeds, min_only=True, return_predecessors=True)
        reach = src >= 0
        lab[nodes[reach]] = lab[nodes[src[reach]]]
    left = lab < 0
    lab[left] = lab0[left]  # unreachable from any seed (separate pieces): keep the old label
    # smooth ragged borders: band vertices follow a clear majority of their neighbours
    for _ in range(2):
        src = np.r_[u, v]
        dst = np.r_[v, u]
        keep = band[dst]
        src, dst = src[keep], dst[keep]
        if len(dst) == 0:
            break
        pair = dst * p + lab[src]
        ids, cnt = np.unique(pair, return_counts=True)
        deg = np.bincount(dst, minlength=n)
        vd, vl = ids // p, ids % p
        win = (cnt * 3 > 2 * deg[vd]) & (vl != lab[vd])
        if not win.any():
            break
        lab[vd[win]] = vl[win]
    return lab


def _unsure(f: np.ndarray, lab: np.ndarray, p: int, uncertain: float) -> np.ndarray:
    """[V] bool: vertices whose part the field barely prefers (see :func:`snap_boundaries`)."""
    if p < 2 or uncertain <= 0:
        return np.zeros(len(lab), bool)
    means, _ = _group_means(f, lab, p)
    out = np.zeros(len(lab), bool)
    for start in range(0, len(lab), 200_000):  # [chunk, P] similarities
        sl = slice(start, start + 200_000)
        sim = f[sl] @ means.T
        own = lab[sl]
        s_own = sim[np.arange(len(own)), own]
        sim[np.arange(len(own)), own] = -np.inf
        other = np.argmax(sim, axis=1)
        s_other = sim[np.arange(len(own)), other]
        gap = 1.0 - np.einsum("ij,ij->i", means[own], means[other])
        out[sl] = (s_own - s_other) < float(uncertain) * gap
    return out


# --------------------------------------------------------------------------- the tree
@dataclass
class PartTree:
    """A hierarchy of parts: level 0 = finest parts, higher levels = unions of them.

    Attributes:
        part_labels: [V] int32 level-0 part per vertex (0..P-1).
        level_maps: one [P] int32 array per level: the level-``l`` cluster of each
            level-0 part (``level_maps[0]`` is the identity).
        similarities: the cosine-similarity cut of each coarser level (len = levels - 1).
    """

    part_labels: np.ndarray
    level_maps: list[np.ndarray]
    similarities: list[float] = field(default_factory=list)
    linkage: np.ndarray | None = None  # [P-1, 4] scipy average-linkage of the level-0 parts (cosine)
    # cosine distance below which the dendrogram says nothing (:func:`part_noise_floor`)
    noise_floor: float = 0.0

    def merge_heights(self) -> np.ndarray:
        """[P-1] cosine distances at which the dendrogram merges, ascending (empty: one part)."""
        if self.linkage is None or len(self.linkage) == 0:
            return np.zeros(0)
        return np.sort(np.asarray(self.linkage)[:, 2])

    def persistence(self) -> np.ndarray:
        """[P + 1] (index = number of parts k, 1..P): the range of cosine-distance cuts
        above ``noise_floor`` over which the dendrogram has exactly k clusters (index 0
        unused, 0).

        Thresholds below the floor are not counted: the level-0 parts came out of HDBSCAN
        already apart, so the range from 0 to the first merge is the clustering's doing,
        not the field's, and a merge within the field's own spread is noise. Without the
        floor the finest cut's range ``[0, h_0)`` wins wherever HDBSCAN split parts a
        little more finely than the next merge (psb-dev, docs/results.md).
        """
        p = len(self.level_maps[0]) if self.level_maps else 0
        h = np.clip(self.merge_heights(), 0.0, 2.0)
        out = np.zeros(p + 1)
        if p == 0:
            return out
        # k = p - m clusters for thresholds in [h[m-1], h[m]) (h[-1] = floor, h[p-1] = 2)
        bounds = np.maximum(np.r_[0.0, h, 2.0], min(max(float(self.noise_floor), 0.0), 2.0))
        for m in range(p):
            out[p - m] = bounds[m + 1] - bounds[m]
        return out

    def stable_num_parts(self, min_parts: int = 2, max_distance: float = 1.0, tolerance: float = 0.8) -> int:
        """The number of parts of the most persistent cut (widest range of cosine-distance
        thresholds), among cuts with at least ``min_parts`` parts whose range starts below
        ``max_distance`` (1.0: never forced to merge parts whose features are unrelated,
        cosine <= 0). Near-ties go to the finer cut: the finest cut at least ``tolerance``
        times as persistent as the most persistent one. 1 when there is a single part.

        Ranges are counted from the tree's ``noise_floor`` (:meth:`persistence`), so the
        finest cut wins only when its parts stand further apart than the field's own
        spread within a part. On psb-dev (docs/results.md) this beat the unrestricted
        widest gap, fixed thresholds and gaps of size-filtered merges, and on a
        synthetic room it keeps the objects where the widest gap alone flips to groups
        on a near-tie.
        """
        per = self.persistence()
        p = len(per) - 1
        if p <= min_parts:
            return max(p, 1)
        h = np.r_[0.0, self.merge_heights()]
        ks = [k for k in range(p, min_parts - 1, -1) if h[p - k] < max_distance]
        if not ks:
            return p
        best = max(per[k] for k in ks)
        return int(max(k for k in ks if per[k] >= tolerance * best))

    def merge_pair_mass(self, vertex_weights: np.ndarray | None = None) -> np.ndarray:
        """[P-1] |A| x |B| per merge (linkage order), |.| the summed ``vertex_weights`` (areas;
        default 1 per vertex) of a side, as a fraction of the whole's squared total: the share
        of all vertex pairs whose Rand-index agreement the merge decides."""
        parts = np.asarray(self.part_labels)
        p = len(self.level_maps[0]) if self.level_maps else 0
        if p < 2 or self.linkage is None:
            return np.zeros(0)
        w = np.ones(len(parts)) if vertex_weights is None else np.asarray(vertex_weights, dtype=np.float64)
        size = np.zeros(2 * p - 1)
        size[:p] = np.bincount(parts, weights=w, minlength=p)[:p]
        z = np.asarray(self.linkage)
        ia, ib = z[:, 0].astype(np.int64), z[:, 1].astype(np.int64)
        for j in range(p - 1):
            size[p + j] = size[ia[j]] + size[ib[j]]
        total = max(float(size[-1]), 1e-12)
        return size[ia] * size[ib] / total**2

    def mask_num_parts(self, separating: np.ndarray, touching: np.ndarray) -> int:
        """Number of parts of the dendrogram cut most mask votes agree with
        (:func:`mask_split_votes` counts them per merge).

        A cut with k parts undoes the k-1 highest merges. Every mask that touches an
        undone merge votes +1 when it separates the two sides and -1 when it holds them
        together; the cut with the highest total wins (ties to the fewer parts). Finer
        than that, it would split regions more masks keep whole than cut; coarser, it
        would merge regions more masks draw apart than together. Each merge weighs by
        its evidence (the number of masks that touch it), so a merge few masks see
        cannot outvote one many masks decide. The cut has at least 2 parts.

        :meth:`expected_ri_cut` weighs merges by the surface pairs they decide instead
        (``granularity_weight = "pairs"``).

        Args:
            separating, touching: [P-1] votes per merge, in linkage order (ascending height).

        Returns:
            k in 2..P (1 for a tree of one part).
        """
        p = len(self.level_maps[0]) if self.level_maps else 0
        if p < 2 or self.linkage is None:
            return max(p, 1)
        sep = np.asarray(separating, dtype=np.float64)
        touch = np.asarray(touching, dtype=np.float64)
        if sep.shape != (p - 1,) or touch.shape != (p - 1,):
            raise ValueError(
                f"votes of shape {sep.shape} and {touch.shape}; expected ({p - 1},) each, one per merge of the tree"
            )
        gain = 2.0 * sep - touch  # separating minus joining votes
        total = np.cumsum(gain[::-1])  # total[k-2]: the k-1 highest merges undone
        # at least 2 parts: one part cuts nothing (masks of whole objects always vote to join
        # the last merge), and asking to discretize is asking for a cut
        return int(np.argmax(total)) + 2

    def expected_ri_cut(self, separating: np.ndarray, touching: np.ndarray, pair_mass: np.ndarray) -> np.ndarray:
        """[P] cluster of each level-0 part in the cut of the tree, not necessarily at one
        height, with the least expected Rand-index error against a person who splits each
        merge as often as the masks that see it do.

        Merge j (sides A, B; ``pair_mass`` = |A| |B| as a share of all surface pairs) is
        split by a person with probability ``p_j = separating_j / touching_j``; a merge no
        mask sees counts as split, and a merge below the field's noise floor (its sides no
        further apart than two points of one part) as joined. Keeping
        A and B apart costs ``(1 - p_j) m_j``, joining them ``p_j m_j``; joining a cluster
        joins every merge inside it. A dynamic programme over the dendrogram takes, at
        every node, the cheaper of joining all of it or splitting it and doing the best
        in each child, so a boundary between two large regions can be cut without cutting
        every smaller merge elsewhere in the tree. The root is always split (at least 2 parts).
        """
        p = len(self.level_maps[0]) if self.level_maps else 0
        if p < 2 or self.linkage is None:
            return np.zeros(p, dtype=np.int32)
        z = np.asarray(self.linkage)
        sep = np.asarray(separating, dtype=np.float64)
        touch = np.asarray(touching, dtype=np.float64)
        mass = np.asarray(pair_mass, dtype=np.float64)
        # below the field's noise floor the two sides are no further apart than two points of
        # one part: a split there is arbitrary (masks that cut a floor into random pieces), so
        # it is joined; above it, the masks' share, or the field's word when no mask sees it
        above = z[:, 2] > self.noise_floor
        p_sep = np.where(above, np.where(touch > 0, sep / np.maximum(touch, 1.0), 1.0), 0.0)
        cost_join = np.zeros(2 * p - 1)  # joining all of a node: every merge inside it done
        best = np.zeros(2 * p - 1)
        split = np.zeros(2 * p - 1, dtype=bool)
        ia, ib = z[:, 0].astype(np.int64), z[:, 1].astype(np.int64)
        for j in range(p - 1):
            n = p + j
            cost_join[n] = cost_join[ia[j]] + cost_join[ib[j]] + p_sep[j] * mass[j]
            apart = (1.0 - p_sep[j]) * mass[j] + best[ia[j]] + best[ib[j]]
            split[n] = apart < cost_join[n] or j == p - 2  # ties join; the root splits
            best[n] = apart if split[n] else cost_join[n]
        node_of = np.empty(p, dtype=np.int64)
        stack = [2 * p - 2]
        while stack:
            n = stack.pop()
            if n >= p and split[n]:
                stack += [int(ia[n - p]), int(ib[n - p])]
            else:
                node_of[self._leaves(n)] = n
        return _first_appearance(node_of)

    def _leaves(self, node: int) -> np.ndarray:
        """Level-0 parts under dendrogram node ``node``."""
        p = len(self.level_maps[0])
        if node < p:
            return np.array([node])
        z = np.asarray(self.linkage)
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            if n < p:
                out.append(n)
            else:
                stack += [int(z[n - p, 0]), int(z[n - p, 1])]
        return np.asarray(out, dtype=np.int64)

    def _node_per_part(self, level_map: np.ndarray) -> np.ndarray:
        """[P] the dendrogram node of each level-0 part's cluster in ``level_map`` (a cut of the
        dendrogram: every cluster is one node, the lowest holding all its parts)."""
        p = len(self.level_maps[0])
        z = np.asarray(self.linkage)
        size = np.r_[np.ones(p), z[:, 3]]
        parent = np.full(2 * p - 1, -1, dtype=np.int64)
        parent[z[:, 0].astype(np.int64)] = np.arange(p, 2 * p - 1)
        parent[z[:, 1].astype(np.int64)] = np.arange(p, 2 * p - 1)
        counts = np.bincount(level_map, minlength=int(level_map.max()) + 1)
        node = np.arange(p, dtype=np.int64)
        grow = size[node] < counts[level_map]
        while grow.any():  # climb until the node holds the whole cluster
            node[grow] = parent[node[grow]]
            grow = size[node] < counts[level_map]
        return node

    def add_partition(self, labels: np.ndarray) -> int:
        """Make a cut of the dendrogram (``labels`` [P], e.g. :meth:`expected_ri_cut`) a level,
        and keep every level nested: a finer level becomes its meet with the cut (each part
        takes the lower of its two clusters), a coarser one its join (the higher). Returns
        the cut's level index."""
        m = _first_appearance(np.asarray(labels))
        n_new = int(m.max()) + 1 if len(m) else 0
        for lv, lm in enumerate(self.level_maps):
            if int(lm.max()) + 1 == n_new and _same_partition(lm, m):
                return lv
        if self.linkage is None or len(m) < 2:
            return self.add_cut(n_new)
        z = np.asarray(self.linkage)
        size = np.r_[np.ones(len(m)), z[:, 3]]
        cut = self._node_per_part(m)
        for lv in range(1, len(self.level_maps)):
            node = self._node_per_part(self.level_maps[lv])
            finer = self.num_parts(lv) > n_new
            pick = (size[node] < size[cut]) if finer else (size[node] > size[cut])
            self.level_maps[lv] = _first_appearance(np.where(pick, node, cut))
        pos = 1
        while pos < self.num_levels and self.num_parts(pos) > n_new:
            pos += 1
        h = z[:, 2]
        inner = h[np.unique(cut[cut >= len(m)]) - len(m)] if (cut >= len(m)).any() else np.zeros(1)
        self.level_maps.insert(pos, m.astype(np.int32))
        self.similarities.insert(pos - 1, float(1.0 - np.median(inner)))
        return pos

    def labels_for_num_parts(self, k: int) -> np.ndarray:
        """[P] cluster (0..k'-1) of each level-0 part in the dendrogram cut with at most ``k`` clusters."""
        p = len(self.level_maps[0])
        if k >= p or self.linkage is None or p < 2:
            return np.arange(p, dtype=np.int32)
        from scipy.cluster.hierarchy import fcluster

        lab = fcluster(self.linkage, t=max(int(k), 1), criterion="maxclust")
        return _first_appearance(lab)

    def add_cut(self, k: int) -> int:
        """Make the dendrogram cut with ``k`` parts a level (levels stay ordered fine to coarse,
        so they keep nesting); returns its level index (an existing level when one matches)."""
        m = self.labels_for_num_parts(k)
        n_new = int(m.max()) + 1 if len(m) else 0
        for lv, lm in enumerate(self.level_maps):
            if int(lm.max()) + 1 == n_new and _same_partition(lm, m):
                return lv
        pos = 1
        while pos < self.num_levels and self.num_parts(pos) > n_new:
            pos += 1
        h = self.merge_heights()
        p = len(self.level_maps[0])
        m_merges = p - n_new
        lo = h[m_merges - 1] if m_merges >= 1 else 0.0
        hi = h[m_merges] if m_merges < len(h) else 2.0
        self.level_maps.insert(pos, m.astype(np.int32))
        self.similarities.insert(pos - 1, float(1.0 - (lo + hi) / 2.0))
        return pos

    @property
    def num_levels(self) -> int:
        return len(self.level_maps)

    def _check_level(self, level: int) -> int:
        if not 0 <= int(level) < self.num_levels:
            raise ValueError(
                f"level {level} does not exist: this hierarchy has levels 0..{self.num_levels - 1} "
                "(0 = finest parts); choose --level within that range"
            )
        return int(level)

    def num_parts(self, level: int = 0) -> int:
        level = self._check_level(level)
        m = self.level_maps[level]
        return int(m.max()) + 1 if len(m) else 0

    def cut(self, level: int = 0) -> np.ndarray:
        """[V] int32 labels at ``level`` (0 = finest)."""
        level = self._check_level(level)
        return self.level_maps[level][self.part_labels].astype(np.int32)

    def parents(self, level: int = 0) -> np.ndarray:
        """[P_level] int32: the id at ``level + 1`` of each part at ``level`` (-1 at the top level)."""
        level = self._check_level(level)
        k = self.num_parts(level)
        if level + 1 >= self.num_levels:
            return np.full(k, -1, np.int32)
        out = np.full(k, -1, np.int32)
        out[self.level_maps[level]] = self.level_maps[level + 1]
        return out

    def children(self, level: int, part: int) -> np.ndarray:
        """Ids at ``level - 1`` of the parts that make up ``part`` at ``level``."""
        level = self._check_level(level)
        if level == 0:
            return np.zeros(0, np.int32)
        fine, coarse = self.level_maps[level - 1], self.level_maps[level]
        return np.unique(fine[coarse == part]).astype(np.int32)


# --------------------------------------------------------------------------- the estimator
class Discretizer:
    """Cut a scene into parts by clustering its feature field (estimator style).

    Args:
        config: the hyper-parameters, a :class:`~omniseg3d_mesh.config.DiscretizeConfig`
            (default: its defaults; every field is documented there: ``level``,
            ``min_part_size``, ``min_cluster_size``, ``superpoint_threshold``, ...).
        **overrides: fields of ``config`` to change, e.g. ``Discretizer(level=0,
            min_part_size=20)`` (checked when built: a value out of range is a ValueError).

    Attributes (after :meth:`fit`):
        labels_: [V] int32 part per vertex at ``level`` (-1 = none; none left after post-processing).
        tree_: :class:`PartTree`.
        parents_: [P] int32 parent id (at ``level + 1``) of each part of ``labels_``, -1 at the top.
        levels_: [L, V] int32 labels at every level.
        superpoints_: [V] int64 superpoint per vertex.
        granularity_: how the automatic level was chosen: ``"masks"`` (the training masks'
            cut), ``"persistence"`` (the field alone), or ``"given"`` (``level`` / ``num_parts``).
        superpoint_threshold_: the over-segmentation threshold used (``superpoint_threshold``,
            lowered to the lower quartile of neighbour agreement on a noisy field).
    """

    def __init__(self, config: DiscretizeConfig | None = None, **overrides: Any):
        self.config = dataclasses.replace(config or DiscretizeConfig(), **overrides)

    # ------------------------------------------------------------------ checks
    def _validate(self, features: np.ndarray, vertices: np.ndarray, faces: np.ndarray | None) -> None:
        check_field_geometry(features, vertices)
        if len(vertices) == 0:
            raise ValueError("the geometry has no vertices: nothing to discretize")
        if faces is not None and (faces.ndim != 2 or faces.shape[1] != 3):
            raise ValueError(f"faces must be triangles with shape (F, 3), got {faces.shape}")

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        features: np.ndarray,
        vertices: np.ndarray,
        faces: np.ndarray | None = None,
        adjacency: sp.csr_matrix | None = None,
        progress: ProgressCallback | None = None,
        views: Iterable[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> Discretizer:
        """Cluster the field into parts.

        Args:
            features: [V, D] float features (normalised here).
            vertices: [V, 3] float positions.
            faces: [F, 3] int triangles, or None for a point cloud (k-NN graph).
            adjacency: optional precomputed [V, V] vertex graph; default
                ``vertex_graph(vertices, faces, knn)``, touching mesh pieces *not*
                bridged (the viewer cuts the same graph; see
                :func:`~omniseg3d_mesh.graph.vertex_graph` why).
            progress: optional ``progress(stage, done, total, **info)`` callback.
            views: optional 2D masks the field was fitted from, as ``(pixel_vertex [H, W],
                masks [M, H, W])`` per view (:func:`pixel_vertices`); with them (and
                ``mask_granularity``) the automatic level is the cut most mask votes agree
                with (:meth:`PartTree.mask_num_parts`), else the most persistent cut.
        """
        feats = np.asarray(features)
        verts = np.asarray(vertices, dtype=np.float32)
        faces = None if faces is None else np.asarray(faces)
        self._validate(feats, verts, faces)
        f = normalize_features(feats)
        n = len(f)
        t0 = time.perf_counter()
        adj = adjacency if adjacency is not None else vertex_graph(verts, faces, self.config.knn)
        report(progress, "discretize", 1, 5, step="graph")
        fs = smooth_features(f, adj, self.config.smooth_iters) if self.config.smooth_iters > 0 else f
        u, v = edge_arrays(adj)
        tau = float(self.config.superpoint_threshold)
        if len(u):  # a noisy field: the threshold follows the typical agreement of neighbours
            tau = min(tau, float(np.quantile(np.einsum("ij,ij->i", fs[u], fs[v]), 0.25)))
        sp_lab = oversegment(fs, adj, verts, tau, self.config.max_superpoint_size, self.config.superpoint_rounds)
        self.superpoint_threshold_ = tau
        n_sp = int(sp_lab.max()) + 1
        sp_mean, sp_size = _group_means(f, sp_lab, n_sp)
        _, _, sp_std = _group_means(fs, sp_lab, n_sp, spread=True)  # spread of the denoised field
        report(progress, "discretize", 2, 5, step="superpoints", superpoints=n_sp)
        log.info("%d vertices -> %d superpoints (%.2fs)", n, n_sp, time.perf_counter() - t0)

        cl = self._noise_as_pieces(self._cluster_superpoints(sp_mean, sp_size, sp_std), sp_mean, sp_lab, u, v)
        report(progress, "discretize", 3, 5, step="hdbscan", clusters=int(cl.max()) + 1 if len(cl) else 0)
        parts = _postprocess(f, cl[sp_lab], u, v, self.config.min_part_size)
        self.cluster_selection_ = self.config.cluster_selection
        if int(parts.max()) == 0 and n_sp > 1 and self.config.cluster_selection == "eom":
            # "eom" can keep one dominant cluster (plus specks the small-part rule absorbs):
            # a whole mesh as one part is no finest level; take HDBSCAN's leaves instead and
            # let the part tree's levels and the automatic level decide how far to merge them
            cl = self._cluster_superpoints(sp_mean, sp_size, sp_std, selection="leaf")
            cl = self._noise_as_pieces(cl, sp_mean, sp_lab, u, v)
            parts = _postprocess(f, cl[sp_lab], u, v, self.config.min_part_size)
            self.cluster_selection_ = "leaf"
            log.info("HDBSCAN (eom) left one part; the leaves give %d", int(parts.max()) + 1)
        rings = self._snap_rings(verts, u, v)
        if (rings > 0 or self.config.snap_unsure > 0) and int(parts.max()) > 0:
            from .graph import vertex_creases

            creases = vertex_creases(verts, faces) if faces is not None and self.config.crease_weight > 0 else None
            snapped = snap_boundaries(
                parts, u, v, f, rings, creases, self.config.crease_weight, uncertain=self.config.snap_unsure
            )
            parts = _postprocess(f, snapped, u, v, self.config.min_part_size)
        self.snap_rings_ = rings
        report(progress, "discretize", 4, 5, step="post-processing", parts=int(parts.max()) + 1)
        tree = _build_tree(f, parts, list(self.config.level_similarities))
        self.granularity_ = "given"
        if self.config.num_parts is not None:
            level = tree.add_cut(int(self.config.num_parts))
        elif self.config.level is None:
            level = self._automatic_level(tree, views, verts, faces)
        else:
            level = tree._check_level(self.config.level)
        self.tree_ = tree
        self.level_ = level
        self.superpoints_ = sp_lab
        self.levels_ = np.stack([tree.cut(lv) for lv in range(tree.num_levels)])
        self.labels_ = tree.cut(level)
        self.parents_ = tree.parents(level)
        report(progress, "discretize", 5, 5, step="hierarchy", levels=self.tree_.num_levels)
        log.info(
            "discretized %d vertices into %s parts per level in %.2fs",
            n,
            [self.tree_.num_parts(lv) for lv in range(self.tree_.num_levels)],
            time.perf_counter() - t0,
        )
        return self

    def _automatic_level(
        self,
        tree: PartTree,
        views: Iterable[tuple[np.ndarray, np.ndarray]] | None,
        verts: np.ndarray,
        faces: np.ndarray | None,
    ) -> int:
        """The level (added to the tree) of the masks' cut when masks are given and touch some
        merge, else of the most persistent cut; sets ``granularity_`` to ``"masks"`` or
        ``"persistence"``."""
        self.granularity_ = "persistence"
        if views is not None and self.config.mask_granularity and tree.linkage is not None:
            separating, touching = mask_split_votes(tree, views)
            if touching.any():
                self.granularity_ = "masks"
                if self.config.granularity_weight == "pairs":
                    from .graph import vertex_areas

                    areas = vertex_areas(verts, faces) if faces is not None and len(faces) else None
                    mass = tree.merge_pair_mass(areas)
                    level = tree.add_partition(tree.expected_ri_cut(separating, touching, mass))
                    log.info("automatic level from the masks (pairs): %d parts", tree.num_parts(level))
                    return level
                k = tree.mask_num_parts(separating, touching)
                log.info("automatic level from the masks: %d parts (%d mask votes)", k, int(touching.sum()))
                return tree.add_cut(k)
            log.info("the masks touch no merge of the part tree: the automatic level falls back to persistence")
        return tree.add_cut(tree.stable_num_parts())

    def _snap_rings(self, verts: np.ndarray, u: np.ndarray, v: np.ndarray) -> int:
        """Band half-width of :func:`snap_boundaries` in graph rings: ``snap_distance`` of the
        bounding-box diagonal over the median edge length (at most 50)."""
        if self.config.snap_distance <= 0 or len(u) == 0:
            return 0
        sample = slice(None, None, max(1, len(u) // 200_000))
        edge = float(np.median(np.linalg.norm(verts[u[sample]] - verts[v[sample]], axis=1)))
        diag = float(np.linalg.norm(verts.max(0) - verts.min(0)))
        if edge <= 0:
            return 0
        return int(min(50, max(1, round(self.config.snap_distance * diag / edge))))

    def fit_predict(self, features: np.ndarray, vertices: np.ndarray, faces: np.ndarray | None = None) -> np.ndarray:
        return self.fit(features, vertices, faces).labels_

    def _noise_as_pieces(
        self, labels: np.ndarray, sp_mean: np.ndarray, sp_lab: np.ndarray, u: np.ndarray, v: np.ndarray
    ) -> np.ndarray:
        """[S] superpoint labels with HDBSCAN's noise (-1) grouped into clusters of their own
        when ``keep_noise_pieces``: neighbouring noise superpoints whose mean features agree at
        least as much as the first coarser level merges (``level_similarities[0]``) share a
        label. Post-processing then keeps each such piece as a part from ``min_part_size``
        vertices on, instead of merging every noise piece into its most similar neighbour."""
        noise = labels < 0
        if not self.config.keep_noise_pieces or not noise.any():
            return labels
        a, b = sp_lab[u], sp_lab[v]
        both = noise[a] & noise[b] & (a != b)
        a, b = a[both], b[both]
        sims = list(self.config.level_similarities)
        agree = float(sims[0]) if sims else float(self.config.superpoint_threshold)
        ok = np.einsum("ij,ij->i", sp_mean[a], sp_mean[b]) >= agree
        _, comp = edge_components(len(labels), a[ok], b[ok])
        _, group = np.unique(comp[noise], return_inverse=True)
        out = labels.copy()
        out[noise] = int(labels.max()) + 1 + group
        return out

    def _cluster_superpoints(
        self, means: np.ndarray, sizes: np.ndarray, std: np.ndarray, selection: str | None = None
    ) -> np.ndarray:
        """HDBSCAN labels [S] (-1 noise) of superpoints, weighted by size through repetition.

        Each superpoint stands for its vertices by ``ceil(size / unit)`` samples drawn
        around its mean with its own feature spread ``std`` (exact copies would sit at
        distance 0, which HDBSCAN sees as infinitely dense and keeps every superpoint
        as its own cluster). A superpoint's label is the majority label of its samples.
        ``selection``: HDBSCAN's cluster selection method (default: ``config.cluster_selection``).
        """
        from sklearn.cluster import HDBSCAN

        s = len(means)
        if s < 2:
            return np.zeros(s, np.int64)
        if s > self.config.max_samples:
            # too many superpoints: cluster a size-weighted sample, label the rest by their
            # most similar sampled superpoint (nearest mean; unit vectors: euclidean = cosine order)
            from scipy.spatial import cKDTree

            rng = np.random.default_rng(self.config.seed)
            pick = np.sort(rng.choice(s, size=self.config.max_samples, replace=False, p=sizes / sizes.sum()))
            lab_pick = self._cluster_superpoints(means[pick], sizes[pick], std[pick], selection)
            _, nn = cKDTree(means[pick]).query(means, k=1)
            out = lab_pick[nn]
            out[pick] = lab_pick
            return out
        unit = max(1.0, float(sizes.sum()) / float(self.config.max_samples))
        reps = np.maximum(1, np.ceil(sizes / unit)).astype(np.int64)
        while reps.sum() > max(self.config.max_samples, s):
            unit *= 1.5
            reps = np.maximum(1, np.ceil(sizes / unit)).astype(np.int64)
        rows = np.repeat(np.arange(s), reps)
        mcs = int(min(self.config.min_cluster_size, len(rows)))
        if mcs < 2:
            return np.zeros(s, np.int64)
        ms = None if self.config.min_samples is None else int(min(self.config.min_samples, len(rows)))
        model = HDBSCAN(
            min_cluster_size=mcs,
            min_samples=ms,
            metric="euclidean",
            cluster_selection_method=selection or self.config.cluster_selection,
            copy=True,
        )
        rng = np.random.default_rng(self.config.seed)
        x = means[rows].astype(np.float64)
        x += rng.normal(size=x.shape) * np.maximum(std[rows], 1e-3)[:, None]
        x = normalize_features(x, dtype=None)
        lab = model.fit_predict(x)
        # majority label per superpoint (noise only if most samples are noise)
        nl = int(lab.max()) + 2
        votes = np.bincount(rows * nl + (lab + 1), minlength=s * nl).reshape(s, nl)
        return (np.argmax(votes, axis=1) - 1).astype(np.int64)


# --------------------------------------------------------------------------- post-processing
def _postprocess(f: np.ndarray, labels: np.ndarray, u: np.ndarray, v: np.ndarray, min_part_size: int) -> np.ndarray:
    """Split clusters into graph components, absorb noise and small parts. Returns [V] 0..P-1.

    Pieces = graph components of each cluster (noise components are pieces marked
    as noise). Each round, every noise piece and every piece smaller than
    ``min_part_size`` picks its neighbour with the most similar mean feature
    (non-small, non-noise neighbours first) and merges into it; merges follow a
    strict order (size, then id) so they never form a cycle.
    """
    n = len(labels)
    same = labels[u] == labels[v]
    k, comp = edge_components(n, u[same], v[same])
    is_noise = np.zeros(k, bool)
    is_noise[comp[labels < 0]] = True
    cu, cv = comp[u], comp[v]
    cross = cu != cv
    if cross.any():
        a, b = np.minimum(cu[cross], cv[cross]), np.maximum(cu[cross], cv[cross])
        pair = np.unique(a * k + b)
        pa, pb = pair // k, pair % k
    else:
        pa = pb = np.zeros(0, np.int64)
    base_sums = np.zeros((k, f.shape[1]), np.float64)
    _add_rows(base_sums, comp, f)
    base_size = np.bincount(comp, minlength=k).astype(np.int64)
    base_noise = is_noise
    root = np.arange(k)
    sums, size = base_sums, base_size
    for _ in range(200):
        live = root == np.arange(k)
        small = live & ((size < min_part_size) | is_noise)
        a, b = root[pa], root[pb]
        ok = a != b
        src, dst = np.concatenate([a[ok], b[ok]]), np.concatenate([b[ok], a[ok]])
        pick = small[src]
        src, dst = src[pick], dst[pick]
        if len(src) == 0:
            break
        mean = normalize_features(sums, dtype=None)
        key = np.einsum("ij,ij->i", mean[src], mean[dst]) + 10.0 * ~small[dst]
        order = np.lexsort((-key, src))
        src, dst = src[order], dst[order]
        first = np.r_[True, src[1:] != src[:-1]]
        src, dst = src[first], dst[first]
        merging = np.zeros(k, bool)
        merging[src] = True
        up = (size[dst] > size[src]) | ((size[dst] == size[src]) & (dst < src))
        allowed = ~merging[dst] | up
        src, dst = src[allowed], dst[allowed]
        if len(src) == 0:
            break
        parent = np.arange(k)
        parent[src] = dst
        while True:  # pointer jumping to the roots of this round's merges
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
        root = parent[root]
        sums, size, is_noise = _aggregate(root, base_sums, base_size, base_noise, k)
    _, out = np.unique(root[comp], return_inverse=True)
    return out.astype(np.int64)


def _aggregate(root, base_sums, base_size, base_noise, k):
    """Per root: summed features, size, and noise flag (noise only if all members were noise)."""
    sums = np.zeros_like(base_sums)
    _add_rows(sums, root, base_sums)
    size = np.bincount(root, weights=base_size, minlength=k).astype(np.int64)
    noise = (np.bincount(root, weights=(~base_noise).astype(np.float64), minlength=k) == 0) & (root == np.arange(k))
    return sums, size, noise


def _first_appearance(lab: np.ndarray) -> np.ndarray:
    """Relabel to 0..k-1 in order of first appearance."""
    _, first, inv = np.unique(lab, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inv].astype(np.int32)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(_first_appearance(a), _first_appearance(b)))


def _build_tree(f: np.ndarray, parts: np.ndarray, similarities: list[float]) -> PartTree:
    p = int(parts.max()) + 1 if len(parts) else 0
    maps = [np.arange(p, dtype=np.int32)]
    z = None
    if p >= 2:
        from scipy.cluster.hierarchy import fcluster, linkage

        means, _ = _group_means(f, parts, p)
        z = linkage(means.astype(np.float64), method="average", metric="cosine")
        z[:, 2] = np.maximum.accumulate(np.clip(np.nan_to_num(z[:, 2], nan=2.0), 0.0, 2.0))
        for s in similarities:
            lab = fcluster(z, t=max(1.0 - float(s), 0.0), criterion="distance")
            _, lab = np.unique(lab, return_inverse=True)
            maps.append(lab.astype(np.int32))
    else:
        maps += [np.zeros(p, np.int32) for _ in similarities]
    return PartTree(
        part_labels=parts.astype(np.int32),
        level_maps=maps,
        similarities=list(similarities),
        linkage=z,
        noise_floor=part_noise_floor(f, parts),
    )


def part_noise_floor(features: np.ndarray, parts: np.ndarray) -> float:
    """The field's own spread within its parts: the mean cosine distance between two
    vertices of the same part, averaged over vertices (a part weighs by its size).

    For unit features the mean cosine over all pairs of a part (self-pairs included) is
    ``|mean|^2``, so the distance is ``1 - |mean|^2`` per part. Two part means closer than
    this are no further apart than two vertices of one part: the dendrogram of the part
    means cannot tell cuts below it apart (:meth:`PartTree.persistence`).

    Args:
        features: [V, D] unit features.
        parts: [V] int part ids 0..P-1.

    Returns:
        float in [0, 1] (0 for an empty field).
    """
    if len(parts) == 0:
        return 0.0
    _, sizes, std = _group_means(features, parts, int(parts.max()) + 1, spread=True)
    spread = std**2 * features.shape[1]  # 1 - |mean|^2 per part
    return float(np.clip(np.sum(sizes * spread) / sizes.sum(), 0.0, 1.0))


def pixel_vertices(vertex_ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[H, W] the vertex each pixel of a view sees most (largest interpolation weight;
    -1 = background), from a view's fragments (``vertex_ids`` / ``weights`` [H, W, K])."""
    ids = np.asarray(vertex_ids)
    w = np.where(ids >= 0, np.asarray(weights, dtype=np.float32), -1.0)
    best = np.take_along_axis(ids, np.argmax(w, axis=-1)[..., None], axis=-1)[..., 0]
    return np.where(np.max(w, axis=-1) > 0, best, -1).astype(np.int64)


def mask_split_votes(
    tree: PartTree,
    views: Iterable[tuple[np.ndarray, np.ndarray]],
    min_pixels: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """How the 2D masks vote on each dendrogram merge: keep the two clusters apart, or together.

    For merge ``j`` of ``tree.linkage`` (clusters A and B) and every mask of a view that
    sees both A and B (at least ``min_pixels`` pixels each): the mask *holds* a cluster
    when it covers at least half of the cluster's pixels in that view; it *touches* the
    merge when it holds at least one of them, and of those it *separates* the merge
    when it holds exactly one (a vote to keep A and B apart) and joins it when it holds
    both (a vote to merge them). A split inside what every mask treats as one part (the
    field's noise) gets only joining votes; a boundary people draw gets separating ones.

    Args:
        tree: the part tree (its ``part_labels`` [V] and ``linkage``).
        views: ``(pixel_vertex [H, W] int, masks [M, H, W] bool)`` per view
            (:func:`pixel_vertices` makes the first from fragments).
        min_pixels: a cluster is seen by a view with at least this many pixels.

    Returns:
        ``(separating [P-1] int, touching [P-1] int)`` mask votes per merge, in linkage order.

    Raises:
        ValueError: a view's masks do not have the view's pixel count.
    """
    parts = np.asarray(tree.part_labels)
    z = tree.linkage
    p = int(parts.max()) + 1 if len(parts) else 0
    if z is None or p < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    counts, seen_px, row_view = [], [], []  # per view: [M, P] mask pixels per part, [P] pixels per part
    for pix, masks in views:
        pix = np.asarray(pix).reshape(-1)
        m = np.asarray(masks, dtype=bool)
        if m.ndim != 3 or m.shape[1] * m.shape[2] != pix.size:
            raise ValueError(
                f"masks of shape {m.shape} do not match a view of {pix.size} pixels: pass [M, H, W] masks of that view"
            )
        valid = pix >= 0
        if not m.shape[0] or not valid.any():
            continue
        pp = parts[pix[valid]]
        mi, pj = np.nonzero(m.reshape(len(m), -1)[:, valid])
        counts.append(np.bincount(mi * p + pp[pj], minlength=len(m) * p).reshape(len(m), p))
        seen_px.append(np.bincount(pp, minlength=p))
        row_view.append(np.full(len(m), len(seen_px) - 1))
    if not counts:
        return np.zeros(p - 1, np.int64), np.zeros(p - 1, np.int64)
    # every cluster of the dendrogram (columns P + j) sums its two children: O(masks x P)
    cnt = np.zeros((sum(len(c) for c in counts), 2 * p - 1), np.int32)
    vis = np.zeros((len(seen_px), 2 * p - 1), np.int32)
    cnt[:, :p], vis[:, :p] = np.concatenate(counts), np.stack(seen_px)
    ia, ib = z[:, 0].astype(np.int64), z[:, 1].astype(np.int64)
    for j in range(p - 1):
        cnt[:, p + j] = cnt[:, ia[j]] + cnt[:, ib[j]]
        vis[:, p + j] = vis[:, ia[j]] + vis[:, ib[j]]
    rows = np.concatenate(row_view)
    va, vb = vis[rows][:, ia], vis[rows][:, ib]  # [masks, P-1] pixels of each side in the mask's view
    seen = (va >= min_pixels) & (vb >= min_pixels)
    hold_a = 2 * cnt[:, ia] >= np.maximum(va, 1)
    hold_b = 2 * cnt[:, ib] >= np.maximum(vb, 1)
    sep = ((hold_a ^ hold_b) & seen).sum(axis=0).astype(np.int64)
    touch = ((hold_a | hold_b) & seen).sum(axis=0).astype(np.int64)
    return sep, touch


# --------------------------------------------------------------------------- function forms
def discretize(
    features: Any,
    vertices: np.ndarray,
    faces: np.ndarray | None = None,
    config: DiscretizeConfig | None = None,
) -> np.ndarray:
    """[V] int32 part labels at ``config.level`` (automatic when None; function form of :class:`Discretizer`).

    Args:
        features: [V, D] features, or a :class:`~omniseg3d_mesh.field.Field`.
        vertices: [V, 3] positions.
        faces: [F, 3] triangles or None (point cloud).
        config: :class:`~omniseg3d_mesh.config.DiscretizeConfig`.
    """
    feats = getattr(features, "features", features)
    return Discretizer(config).fit(feats, vertices, faces).labels_
