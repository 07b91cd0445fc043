"""A SAM-like mask simulator over synthetic scenes.

Per view the ground-truth part / object / group maps are rendered through the
fragments (dominant vertex of each pixel). Proposals are then emitted the way
Segment Anything's automatic generator behaves on real images, with errors whose
rates grow from the ``clean`` to the ``hard`` preset (``room``: ``hard`` plus part
groups and SAM's ~100 px smallest mask, for room scans):

* each part, object and group is proposed with its own probability (missed parts),
* neighbouring objects are sometimes merged into one proposal,
* a part is sometimes split into two pieces along a random line,
* a few parts of an object are sometimes proposed together (a "part group"),
* boundaries carry a few pixels of smooth random dilation / erosion,
* floor and walls ("stuff") come as random pieces,
* masks smaller than ``min_area`` pixels are dropped.

:func:`label_map_masks` is the simple, deterministic form for small scenes built with
:mod:`~omniseg3d_mesh.synthetic.assembly`: part and object label maps in, one mask
per object and per part out, with a fixed pattern of disagreements between views.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from ..progress import report

log = logging.getLogger(__name__)

__all__ = [
    "MaskSimConfig",
    "MASK_PRESETS",
    "gt_label_maps",
    "simulate_masks",
    "simulate_view_masks",
    "label_map_masks",
    "write_sam_masks",
    "resolve_preset",
    "min_area_pixels",
    "split_or_keep",
    "touching_segments",
    "finish_proposals",
]


@dataclass(frozen=True)
class MaskSimConfig:
    """Error rates of the simulated SAM proposals (probabilities are per proposal unless noted)."""

    p_part: float = 1.0  # a visible part is proposed
    p_object: float = 1.0  # a visible multi-part object is proposed as a whole
    p_group: float = 0.8  # a group with >= 2 visible objects is proposed as a whole
    p_merge: float = 0.0  # an object is proposed merged with a touching neighbour object
    p_split: float = 0.0  # a part is proposed as two pieces instead of one
    p_part_group: float = 0.0  # an object with >= 3 visible parts is also proposed as a few of its parts together
    p_boundary: float = 0.0  # a proposal carries boundary noise
    boundary_px: float = 0.0  # amplitude of the boundary noise, pixels at 640 px image width (scaled with the image)
    stuff_pieces: int = 1  # floor / walls come as up to this many random pieces
    p_stuff: float = 1.0  # a stuff piece is proposed
    min_area: float = 0.001  # drop proposals smaller than this fraction of the image (and < 16 px)


_HARD = MaskSimConfig(
    p_part=0.7,
    p_object=0.6,
    p_group=0.35,
    p_merge=0.2,
    p_split=0.2,
    p_boundary=0.8,
    boundary_px=3.0,
    stuff_pieces=5,
    p_stuff=0.7,
)

MASK_PRESETS: dict[str, MaskSimConfig] = {
    "clean": MaskSimConfig(),
    "medium": MaskSimConfig(
        p_part=0.85,
        p_object=0.8,
        p_group=0.5,
        p_merge=0.1,
        p_split=0.1,
        p_boundary=0.5,
        boundary_px=2.0,
        stuff_pieces=3,
        p_stuff=0.8,
    ),
    "hard": _HARD,
    # room scans (tools/eval_rooms.py): the hard errors plus part groups, and SAM's real
    # smallest mask, ~100 px at 640x480, so small objects keep their masks
    "room": replace(_HARD, p_part_group=0.25, min_area=100 / (640 * 480)),
}


def gt_label_maps(syn, fragments) -> dict[str, np.ndarray]:
    """Ground-truth label images of one view.

    Args:
        syn: a :class:`~omniseg3d_mesh.synthetic.scenes.SyntheticScene`.
        fragments: the view's fragments.

    Returns:
        level ("part", "object", "group") -> [H, W] int32 ids (-1 = background).
    """
    dom = fragments.dominant_vertex()
    valid = dom >= 0
    out = {}
    for level, lab in syn.labels.items():
        m = np.full(dom.shape, -1, dtype=np.int32)
        m[valid] = lab[dom[valid]]
        out[level] = m
    return out


def resolve_preset(preset) -> MaskSimConfig:
    """A preset name or a :class:`MaskSimConfig` -> the config (unknown names: ValueError)."""
    if isinstance(preset, MaskSimConfig):
        return preset
    if preset not in MASK_PRESETS:
        raise ValueError(
            f"unknown mask simulator preset {preset!r}; choose one of {', '.join(MASK_PRESETS)} or pass a MaskSimConfig"
        )
    return MASK_PRESETS[preset]


def _smooth_noise(rng, shape, amplitude) -> np.ndarray:
    """[H, W] smooth random field in [-amplitude, amplitude] (bilinear upsampled coarse grid)."""
    from scipy.ndimage import zoom

    h, w = shape
    gh, gw = max(2, h // 12), max(2, w // 12)
    coarse = rng.uniform(-amplitude, amplitude, size=(gh, gw))
    field = zoom(coarse, (h / gh, w / gw), order=1, mode="nearest")
    return field[:h, :w]


def _perturb_boundary(mask: np.ndarray, rng, amplitude: float) -> np.ndarray:
    """Dilate / erode ``mask`` by a smooth random amount (up to ``amplitude`` px) along its boundary."""
    from scipy.ndimage import distance_transform_edt

    pad = int(np.ceil(amplitude)) + 2
    rows, cols = np.nonzero(mask)
    r0, r1 = max(rows.min() - pad, 0), min(rows.max() + pad + 1, mask.shape[0])
    c0, c1 = max(cols.min() - pad, 0), min(cols.max() + pad + 1, mask.shape[1])
    sub = mask[r0:r1, c0:c1]
    signed = distance_transform_edt(sub) - distance_transform_edt(~sub)
    noise = _smooth_noise(rng, sub.shape, amplitude)
    out = np.zeros_like(mask)
    out[r0:r1, c0:c1] = signed - 0.5 + noise > 0
    return out


def _split(mask: np.ndarray, rng) -> list[np.ndarray]:
    """Cut ``mask`` in two along a random line through its centroid."""
    rows, cols = np.nonzero(mask)
    ang = rng.uniform(0, np.pi)
    d = (rows - rows.mean()) * np.cos(ang) + (cols - cols.mean()) * np.sin(ang)
    side = d > rng.uniform(-0.25, 0.25) * max(np.abs(d).max(), 1)
    a = np.zeros_like(mask)
    b = np.zeros_like(mask)
    a[rows[side], cols[side]] = True
    b[rows[~side], cols[~side]] = True
    return [a, b]


def _pieces(mask: np.ndarray, rng, k: int) -> list[np.ndarray]:
    """Up to ``k`` random Voronoi pieces of ``mask``."""
    rows, cols = np.nonzero(mask)
    k = int(rng.integers(1, k + 1))
    if k == 1:
        return [mask]
    seeds = rng.choice(len(rows), size=min(k, len(rows)), replace=False)
    pts = np.stack([rows, cols], 1).astype(np.float32)
    d = ((pts[:, None, :] - pts[seeds][None]) ** 2).sum(-1)
    owner = d.argmin(1)
    out = []
    for j in range(len(seeds)):
        m = np.zeros_like(mask)
        sel = owner == j
        m[rows[sel], cols[sel]] = True
        out.append(m)
    return out


def touching_segments(label_map: np.ndarray, sid: int, candidates: set[int]) -> list[int]:
    """Ids in ``candidates`` with pixels within 2 px of segment ``sid`` of ``label_map`` [H, W]."""
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(label_map == sid, iterations=2)
    near = np.unique(label_map[ring])
    return [int(o) for o in near if o in candidates and o != sid]


def min_area_pixels(cfg: MaskSimConfig, height: int, width: int) -> int:
    """Smallest proposal kept, in pixels: ``cfg.min_area`` of the image, and at least 16."""
    return max(16, int(cfg.min_area * height * width))


def split_or_keep(mask: np.ndarray, cfg: MaskSimConfig, rng, min_area: int) -> list[np.ndarray]:
    """A segment's proposal(s): two pieces with probability ``cfg.p_split`` (if large enough), else the segment."""
    if rng.uniform() < cfg.p_split and mask.sum() >= 4 * min_area:
        return _split(mask, rng)
    return [mask]


def finish_proposals(proposals: list[np.ndarray], cfg: MaskSimConfig, rng, height: int, width: int) -> list[np.ndarray]:
    """Boundary noise (probability ``cfg.p_boundary``, ``cfg.boundary_px`` at 640 px, scaled
    with the image) on each proposal, then drop those under :func:`min_area_pixels`."""
    # SAM's boundary errors are a few pixels at its working resolution (~640-1024 px):
    # the amplitude is given at 640 px and scales with the image
    amplitude = cfg.boundary_px * max(height, width) / 640.0
    min_area = min_area_pixels(cfg, height, width)
    out = []
    for m in proposals:
        if cfg.p_boundary > 0 and amplitude > 0 and m.any() and rng.uniform() < cfg.p_boundary:
            m = _perturb_boundary(m, rng, amplitude)
        if m.sum() >= min_area:
            out.append(m)
    return out


def _simulate_view(syn, maps: dict[str, np.ndarray], cfg: MaskSimConfig, rng) -> list[np.ndarray]:
    part_map, obj_map, group_map = maps["part"], maps["object"], maps["group"]
    h, w = part_map.shape
    min_area = min_area_pixels(cfg, h, w)
    proposals: list[np.ndarray] = []

    part_ids, part_area = np.unique(part_map[part_map >= 0], return_counts=True)
    visible_parts = {int(p) for p, a in zip(part_ids, part_area) if a >= min_area}
    obj_ids = np.unique(obj_map[obj_map >= 0])
    things = {int(o) for o in obj_ids if not syn.stuff[o]}

    # stuff (floor, walls): random pieces
    for o in obj_ids:
        if not syn.stuff[o]:
            continue
        for piece in _pieces(obj_map == o, rng, cfg.stuff_pieces):
            if rng.uniform() < cfg.p_stuff:
                proposals.append(piece)

    # parts, objects, merges
    for o in sorted(things):
        all_parts = np.unique(part_map[obj_map == o])
        parts_here = [int(p) for p in all_parts if int(p) in visible_parts]
        for p in parts_here:
            if rng.uniform() >= cfg.p_part:
                continue
            proposals.extend(split_or_keep(part_map == p, cfg, rng, min_area))
        if cfg.p_part_group > 0 and len(parts_here) >= 3 and rng.uniform() < cfg.p_part_group:
            k = int(rng.integers(2, len(parts_here)))
            chosen = rng.choice(parts_here, size=k, replace=False)
            proposals.append(np.isin(part_map, chosen))
        if len(all_parts) >= 2 and rng.uniform() < cfg.p_object:
            proposals.append(obj_map == o)
        if cfg.p_merge > 0 and rng.uniform() < cfg.p_merge:
            nb = touching_segments(obj_map, o, things)
            if nb:
                other = nb[int(rng.integers(len(nb)))]
                proposals.append((obj_map == o) | (obj_map == other))

    # groups with at least two visible objects
    for g in np.unique(group_map[group_map >= 0]):
        objs_in_g = {int(o) for o in np.unique(obj_map[group_map == g])} & things
        if len(objs_in_g) >= 2 and rng.uniform() < cfg.p_group:
            proposals.append(group_map == g)

    return finish_proposals(proposals, cfg, rng, h, w)


def simulate_view_masks(
    syn, fragments, preset: str | MaskSimConfig = "clean", seed: int = 0, view_index: int = 0
) -> np.ndarray:
    """Simulated SAM proposals of one view, as view ``view_index`` of :func:`simulate_masks`.

    Views are independent (one generator per (seed, view index)), so a scene's masks can
    be made one view at a time with bounded memory.

    Returns:
        [M, H, W] bool proposals (M may be 0).
    """
    cfg = resolve_preset(preset)
    rng = np.random.default_rng([int(seed), int(view_index)])
    masks = _simulate_view(syn, gt_label_maps(syn, fragments), cfg, rng)
    return np.stack(masks) if masks else np.zeros((0, fragments.height, fragments.width), dtype=bool)


def simulate_masks(
    syn,
    fragments_by_view: dict,
    preset: str | MaskSimConfig = "clean",
    seed: int = 0,
    progress=None,
) -> dict[str, np.ndarray]:
    """Simulated SAM proposals for every view.

    Args:
        syn: a :class:`~omniseg3d_mesh.synthetic.scenes.SyntheticScene`.
        fragments_by_view: view name -> Fragments of that view.
        preset: ``clean``, ``medium``, ``hard``, ``room`` or a :class:`MaskSimConfig`.
        seed: the same seed gives the same masks.
        progress: optional ``progress(stage, done, total)`` callback.

    Returns:
        view name -> [M, H, W] bool proposals (M may be 0).
    """
    cfg = resolve_preset(preset)
    out: dict[str, np.ndarray] = {}
    names = list(fragments_by_view)
    for i, name in enumerate(names):
        out[name] = simulate_view_masks(syn, fragments_by_view[name], cfg, seed=seed, view_index=i)
        report(progress, "masks", i + 1, len(names))
    log.info(
        "simulated %d masks over %d views (%s)",
        sum(len(m) for m in out.values()),
        len(out),
        preset if isinstance(preset, str) else "custom",
    )
    return out


def write_sam_masks(out_dir: str | Path, masks_by_view: dict[str, np.ndarray]) -> Path:
    """Write proposals in segment-anything's automatic-mask-generator folder layout.

    ``out_dir/<image stem>/<i>.png`` (0/255 masks) plus ``metadata.csv`` per view, the
    layout ``scripts/amg.py`` writes and :func:`omniseg3d_mesh.io.masks.load_masks` reads.
    Predicted IoU and stability are written as 1.0 (the simulator has no scores).

    Returns:
        ``out_dir``.
    """
    from ..io.masks import mask_key, save_sam_folder

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for view, masks in masks_by_view.items():
        records = [{"predicted_iou": 1.0, "stability_score": 1.0} for _ in range(len(masks))]
        save_sam_folder(out / mask_key(view), masks, records)
    return out


def with_overrides(preset: str | MaskSimConfig, **overrides) -> MaskSimConfig:
    """A preset with some fields replaced (unknown names are an error)."""
    cfg = resolve_preset(preset)
    known = {f.name for f in fields(MaskSimConfig)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown MaskSimConfig field(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    return replace(cfg, **overrides)


def label_map_masks(
    part_map: np.ndarray,
    object_map: np.ndarray,
    view_index: int,
    rng: np.random.Generator,
    neighbours: dict[int, int] | None = None,
    min_pixels: int = 4,
) -> np.ndarray:
    """Part and object masks of one view from its ground-truth label maps, disagreeing
    between views the way SAM's do.

    One mask per object and per part (part 0, the floor, only as an object) seen on at
    least ``min_pixels`` pixels, except: every 4th view (``view_index % 4 == 1``) merges
    the first object with its neighbour (``neighbours``, default ``{1: 2}``) into one
    mask, every 3rd (``% 3 == 0``) misses a random part and every 5th (``% 5 == 2``)
    splits a random part into a left and a right half.

    Args:
        part_map, object_map: [H, W] int labels (-1 = background).
        view_index: the view's index (which disagreements it gets).
        rng: draws the missed and the split part.
        neighbours: object -> the object it merges with.
        min_pixels: smallest label area that gets a mask.

    Returns:
        [N, H, W] bool masks: merged objects first, then objects, then parts.
    """
    neighbours = {1: 2} if neighbours is None else neighbours
    k = int(view_index)
    valid = part_map >= 0
    objs = [int(o) for o, c in zip(*np.unique(object_map[valid], return_counts=True)) if c >= min_pixels]
    parts = [int(p) for p, c in zip(*np.unique(part_map[valid], return_counts=True)) if c >= min_pixels and p != 0]
    masks = []
    merged: set = set()
    if k % 4 == 1:
        for o in objs:
            nb = neighbours.get(o)
            if o != 0 and nb in objs and nb not in merged and o not in merged:
                masks.append((object_map == o) | (object_map == nb))
                merged |= {o, nb}
                break
    masks += [object_map == o for o in objs if o not in merged]
    missing = rng.choice(parts) if (k % 3 == 0 and parts) else None
    split = rng.choice(parts) if (k % 5 == 2 and parts) else None
    for p in parts:
        if p == missing:
            continue
        m = part_map == p
        if p == split:
            cols = np.flatnonzero(m.any(axis=0))
            left = m.copy()
            left[:, cols[len(cols) // 2] :] = False
            masks += [left, m & ~left]
        else:
            masks.append(m)
    return np.stack(masks).astype(bool)
