"""Princeton Segmentation Benchmark meshes as an annotator-split evaluation case.

The benchmark (Chen, Golovinskiy, Funkhouser, "A Benchmark for 3D Mesh
Segmentation", SIGGRAPH 2009) gives each mesh ``N.off`` several human
segmentations ``seg/N/N_k.seg`` (line i = segment id of face i; ids are arbitrary
integers). Here a mesh becomes:

* a :class:`~omniseg3d_mesh.scene.Scene` with virtual cameras on a sphere around it
  (:func:`sphere_cameras`, a Fibonacci spiral, every camera aimed at the centre);
* per-annotator face labels (and per-vertex labels, area majority of the incident
  faces, :func:`~omniseg3d_mesh.graph.face_to_vertex_labels`).

:func:`simulate_psb_masks` turns the segmentations of a *mask split* of annotators
into SAM-like proposals: per view every visible segment of every such annotator is
rendered through the fragments' face ids and proposed, with the errors of
:mod:`omniseg3d_mesh.synthetic.masks` (misses, merges with a touching segment,
splits, boundary noise). The other annotators are the ground truth.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..scene import Camera, Scene

log = logging.getLogger(__name__)

__all__ = [
    "PSB_CATEGORIES",
    "PSBMesh",
    "psb_category",
    "load_psb",
    "list_psb",
    "sphere_cameras",
    "simulate_psb_masks",
    "subdivide_psb",
]

# the benchmark's categories, 20 consecutive model ids each (1-20 human, 21-40 cup, ...)
PSB_CATEGORIES = (
    "human", "cup", "glasses", "airplane", "ant", "chair", "octopus", "table", "teddy", "hand",
    "plier", "fish", "bird", "spring", "armadillo", "bust", "mech", "bearing", "vase", "fourleg",
)  # fmt: skip


def psb_category(name: str) -> str:
    """The benchmark category of model ``name`` ("1" -> human, "302" -> bust); "unknown" otherwise."""
    if not str(name).isdigit() or int(name) < 1:
        return "unknown"
    k = (int(name) - 1) // 20
    return PSB_CATEGORIES[k] if k < len(PSB_CATEGORIES) else "unknown"


@dataclass
class PSBMesh:
    """One benchmark mesh with its human segmentations.

    Attributes:
        name: model id (the file stem, e.g. "101").
        category: :func:`psb_category` of the name.
        scene: vertices, faces and (after :func:`load_psb` with ``num_views``) cameras.
        face_labels: annotator id (the ``k`` of ``N_k.seg``) -> [F] int64 segment ids.
        vertex_labels: annotator id -> [V] int64 segment ids (area majority of incident faces).
        areas: [F] float64 face areas.
    """

    name: str
    category: str
    scene: Scene
    face_labels: dict[str, np.ndarray]
    vertex_labels: dict[str, np.ndarray] = field(default_factory=dict)
    areas: np.ndarray | None = None

    @property
    def annotators(self) -> list[str]:
        """Annotator ids in numeric order."""
        return sorted(self.face_labels, key=lambda a: (len(a), a))


def _read_seg(path: Path, num_faces: int) -> np.ndarray:
    text = path.read_text(encoding="utf-8", errors="replace").split()
    try:
        lab = np.array([int(float(t)) for t in text], dtype=np.int64)
    except ValueError:
        raise ValueError(
            f"{path}: a .seg file holds one integer segment id per line (one line per face); found a non-number"
        ) from None
    if len(lab) != num_faces:
        raise ValueError(
            f"{path}: {len(lab)} segment ids but the mesh has {num_faces} faces; "
            "a .seg file needs one line per face of the matching .off (is it the right mesh?)"
        )
    return lab


def list_psb(root: str | Path) -> list[str]:
    """Model ids of the meshes under ``root`` that have a ``seg/<id>`` folder, in numeric order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"benchmark folder {root} does not exist; expected <root>/N.off and <root>/seg/N/N_k.seg"
        )
    names = [p.stem for p in root.glob("*.off") if (root / "seg" / p.stem).is_dir()]
    return sorted(names, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))


def load_psb(
    off_path: str | Path,
    seg_dir: str | Path | None = None,
    num_views: int = 0,
    width: int = 256,
    height: int = 256,
    seed: int = 0,
) -> PSBMesh:
    """Load a benchmark mesh and its human segmentations.

    Args:
        off_path: ``<root>/N.off``.
        seg_dir: folder of ``N_k.seg`` files (default ``<root>/seg/N``).
        num_views: cameras to place around the mesh (:func:`sphere_cameras`; 0 = none).
        width, height: camera image size.
        seed: rotates the camera spiral.

    Returns:
        :class:`PSBMesh`.

    Raises:
        FileNotFoundError: the mesh or its segmentation folder is missing.
        ValueError: a .seg file does not match the mesh.
    """
    from ..graph import face_areas, face_to_vertex_labels
    from ..io.geometry import load_geometry

    off_path = Path(off_path)
    name = off_path.stem
    seg_dir = Path(seg_dir) if seg_dir is not None else off_path.parent / "seg" / name
    if not seg_dir.is_dir():
        raise FileNotFoundError(
            f"segmentation folder {seg_dir} does not exist; expected {name}_k.seg files there (seg/{name}/{name}_0.seg, ...)"
        )
    vertices, faces, _ = load_geometry(off_path)
    if faces is None or len(faces) == 0:
        raise ValueError(f"{off_path}: the benchmark needs a triangle mesh, found no faces")
    pattern = re.compile(rf"{re.escape(name)}_(\d+)\.seg")
    labels: dict[str, np.ndarray] = {}
    for p in sorted(seg_dir.glob("*.seg")):
        m = pattern.fullmatch(p.name)
        if m:
            labels[m.group(1)] = _read_seg(p, len(faces))
    if not labels:
        raise FileNotFoundError(f"{seg_dir} holds no {name}_k.seg file; expected one per human segmentation")
    areas = face_areas(vertices, faces)
    vlab = {a: face_to_vertex_labels(faces, lab, len(vertices), areas) for a, lab in labels.items()}
    cams = sphere_cameras(vertices, num_views, width, height, seed=seed) if num_views else []
    scene = Scene(vertices=vertices, faces=faces, cameras=cams, source=off_path)
    log.info(
        "psb %s (%s): %d vertices, %d faces, %d annotators, %d views",
        name,
        psb_category(name),
        len(vertices),
        len(faces),
        len(labels),
        len(cams),
    )
    return PSBMesh(
        name=name, category=psb_category(name), scene=scene, face_labels=labels, vertex_labels=vlab, areas=areas
    )


def subdivide_psb(psb: PSBMesh, min_vertices: int) -> PSBMesh:
    """The same shape, tessellated finer: every triangle split in four at its edges'
    midpoints (``trimesh.remesh.subdivide``), repeated until the mesh has at least
    ``min_vertices`` vertices. The surface does not move (midpoints lie on it), each new
    triangle keeps its parent's segment in every annotation, and the cameras are kept, so
    the same views see the same shape with 4, 16, ... times the vertices: the benchmark at
    the vertex counts of a dense scan (issue 12's scale sweep).

    Args:
        psb: a loaded benchmark mesh (:func:`load_psb`).
        min_vertices: subdivide until at least this many vertices (the mesh is returned
            unchanged when it already has them).

    Returns:
        A new :class:`PSBMesh` with the finer mesh, its face and vertex labels and areas.
    """
    from dataclasses import replace

    import trimesh.remesh

    from ..graph import face_areas, face_to_vertex_labels

    if min_vertices < 0:
        raise ValueError(f"min_vertices must be >= 0, got {min_vertices}")
    if psb.scene.faces is None:
        raise ValueError(f"psb mesh {psb.name} has no faces to subdivide")
    if psb.scene.num_vertices >= min_vertices:
        return psb
    v = np.asarray(psb.scene.vertices, dtype=np.float64)
    f = np.asarray(psb.scene.faces, dtype=np.int64)
    parent = np.arange(len(f))
    while len(v) < min_vertices:
        v, f, index = trimesh.remesh.subdivide(v, f, return_index=True)
        # every face was split: original face i became the four faces index[i]
        old = np.fromiter(index.keys(), dtype=np.int64, count=len(index))
        new = np.stack(list(index.values())).astype(np.int64)
        new_parent = np.empty(len(f), np.int64)
        new_parent[new.ravel()] = np.repeat(parent[old], new.shape[1])
        parent = new_parent
    areas = face_areas(v, f)
    labels = {a: lab[parent] for a, lab in psb.face_labels.items()}
    vlab = {a: face_to_vertex_labels(f, lab, len(v), areas) for a, lab in labels.items()}
    scene = Scene(vertices=v, faces=f, cameras=list(psb.scene.cameras), source=psb.scene.source)
    log.info("psb %s subdivided: %d -> %d vertices", psb.name, psb.scene.num_vertices, len(v))
    return replace(psb, scene=scene, face_labels=labels, vertex_labels=vlab, areas=areas)


def sphere_cameras(
    vertices: np.ndarray,
    num_views: int = 40,
    width: int = 256,
    height: int = 256,
    fov_y_deg: float = 40.0,
    seed: int = 0,
) -> list[Camera]:
    """Cameras on a sphere around the geometry, each looking at its bounding-box centre.

    Directions follow a Fibonacci spiral (evenly spread), rotated by ``seed``; the
    distance frames the bounding sphere with a 10 % margin.

    Returns:
        ``num_views`` cameras named ``view_000.png``, ...
    """
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1, got {num_views}")
    v = np.asarray(vertices, dtype=np.float64)
    center = (v.min(0) + v.max(0)) / 2
    radius = float(np.linalg.norm(v - center, axis=1).max()) or 1.0
    half = np.deg2rad(fov_y_deg) / 2 * min(1.0, width / height)
    dist = 1.1 * radius / np.sin(half)
    i = np.arange(num_views) + 0.5
    z = 1 - 2 * i / num_views
    phi = np.pi * (1 + 5**0.5) * i + np.random.default_rng(seed).uniform(0, 2 * np.pi)
    r = np.sqrt(1 - z**2)
    dirs = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)
    return [
        Camera.look_at(
            center + dist * d, center, width=width, height=height, fov_y_deg=fov_y_deg, name=f"view_{k:03d}.png"
        )
        for k, d in enumerate(dirs)
    ]


def _dedupe(masks: list[np.ndarray]) -> list[np.ndarray]:
    seen, out = set(), []
    for m in masks:
        key = np.packbits(m).tobytes()
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def simulate_psb_masks(
    psb: PSBMesh,
    fragments_by_view: dict,
    annotators: list[str],
    preset="medium",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """SAM-like proposals made from some annotators' segmentations.

    Per view the whole object is proposed with probability ``p_object``, and each visible segment (at least the preset's ``min_area``) of each
    annotator in ``annotators`` is proposed with probability ``p_part``, split in two
    with ``p_split``, additionally proposed merged with a touching segment of the same
    annotator with ``p_merge``; identical proposals (annotators who agree) are kept
    once; then boundary noise and the area cut-off
    (:func:`~omniseg3d_mesh.synthetic.masks.finish_proposals`).

    Args:
        psb: the mesh.
        fragments_by_view: view name -> Fragments (their ``face_ids`` pick the labels).
        annotators: the mask split (ids of ``psb.face_labels``).
        preset: a :data:`~omniseg3d_mesh.synthetic.masks.MASK_PRESETS` name or a MaskSimConfig.
        seed: the same seed gives the same masks.

    Returns:
        view name -> [M, H, W] bool proposals.
    """
    from .masks import finish_proposals, min_area_pixels, resolve_preset, split_or_keep, touching_segments

    cfg = resolve_preset(preset)
    missing = [a for a in annotators if a not in psb.face_labels]
    if missing:
        raise ValueError(f"annotator(s) {missing} not in mesh {psb.name}; it has {psb.annotators}")
    out: dict[str, np.ndarray] = {}
    for i, (view, frags) in enumerate(fragments_by_view.items()):
        rng = np.random.default_rng([int(seed), i])
        face = np.asarray(frags.face_ids)
        if face.ndim != 2:
            raise ValueError(f"view {view}: fragments need [H, W] face ids (a mesh), got shape {face.shape}")
        h, w = face.shape
        valid = face >= 0
        min_area = min_area_pixels(cfg, h, w)
        props: list[np.ndarray] = []
        if rng.uniform() < cfg.p_object:  # SAM also proposes the whole object
            props.append(valid.copy())
        for a in annotators:
            lab = np.full((h, w), -1, np.int64)
            lab[valid] = psb.face_labels[a][face[valid]]
            ids, area = np.unique(lab[valid], return_counts=True)
            visible = {int(s) for s, n in zip(ids, area) if n >= min_area}
            for s in sorted(visible):
                if rng.uniform() >= cfg.p_part:
                    continue
                seg = lab == s
                props.extend(split_or_keep(seg, cfg, rng, min_area))
                if cfg.p_merge > 0 and rng.uniform() < cfg.p_merge:
                    nb = touching_segments(lab, s, visible)
                    if nb:
                        props.append(seg | (lab == nb[int(rng.integers(len(nb)))]))
        masks = finish_proposals(_dedupe(props), cfg, rng, h, w)
        out[view] = np.stack(masks) if masks else np.zeros((0, h, w), dtype=bool)
    log.info(
        "psb %s: %d proposals over %d views from annotators %s",
        psb.name,
        sum(len(m) for m in out.values()),
        len(out),
        annotators,
    )
    return out
