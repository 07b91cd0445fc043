"""Export of parts and selections: per-part meshes, labels, a coloured scene, a manifest.

``export_parts`` writes one folder, atomically (built under a temporary name and
renamed into place, so a failed run leaves no half-written folder)::

    parts/
      part_0000.ply ...     one mesh per part (PLY, OBJ or GLB), original positions and colours;
                            point clouds: one point PLY per part
      labels.npy            [V] int32 part per input vertex (-1 = none), input vertex order
      labels_levels.npy     [L, V] int32 labels at every hierarchy level (when given)
      segmented.ply         the whole scene coloured by part, vertex ids unchanged, with an int
                            per-vertex property ``label`` (= labels.npy; MeshLab, Blender and
                            CloudCompare read it). Load it with ``trimesh.load(path, process=False)``:
                            trimesh's default processing merges vertices and changes the ids
      parts.json            manifest: per part id, file, vertex/face counts, bbox, centroid, parent, level

A face goes to the part of the majority of its three vertices (all three different:
the first vertex's part). A part's file holds the vertices labelled with it plus the
vertices its faces use (a border face may use a neighbour's vertex), in input order.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..colors import label_colors
from ..progress import ProgressCallback, report
from ..workspace import atomic_directory, atomic_write_bytes, atomic_write_json
from .geometry import ply_bytes

log = logging.getLogger(__name__)

__all__ = ["export_parts", "export_selection", "selection_format", "face_labels", "FORMATS"]

FORMATS = ("ply", "obj", "glb")


def face_labels(faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[F] int32: the majority label of each face's vertices (tie: the first vertex's)."""
    lf = np.asarray(labels)[np.asarray(faces)]
    l0, l1, l2 = lf[:, 0], lf[:, 1], lf[:, 2]
    return np.where((l1 == l2) & (l0 != l1), l1, l0).astype(np.int32)


def _mesh_bytes(vertices: np.ndarray, faces: np.ndarray | None, colors: np.ndarray | None, fmt: str) -> bytes:
    import trimesh

    if faces is None:
        cloud = trimesh.PointCloud(vertices, colors=None if colors is None else np.asarray(colors))
        return cloud.export(file_type="ply")
    mesh = trimesh.Trimesh(
        vertices=vertices,
        faces=faces,
        vertex_colors=None if colors is None else np.asarray(colors),
        process=False,
        validate=False,
    )
    out = mesh.export(file_type=fmt)
    if isinstance(out, str):
        return out.encode("utf-8")
    if not isinstance(out, bytes):
        raise TypeError(f"trimesh exported {fmt} as {type(out).__name__}, expected bytes")
    return out


def _check_geometry(vertices, faces, colors, labels_or_mask, name: str):
    verts = np.asarray(vertices, dtype=np.float32)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {verts.shape}")
    n = len(verts)
    arr = np.asarray(labels_or_mask)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one entry per vertex, shape ({n},), got {arr.shape}")
    if faces is not None:
        faces = np.asarray(faces, dtype=np.int64)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces must be triangles with shape (F, 3), got {faces.shape}")
        if len(faces) and (faces.min() < 0 or faces.max() >= n):
            raise ValueError(f"faces use vertex ids {faces.min()}..{faces.max()} but there are {n} vertices")
        if len(faces) == 0:
            faces = None
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != (n, 3) and colors.shape != (n, 4):
            raise ValueError(f"colors must have shape ({n}, 3) (RGB, uint8), got {colors.shape}")
        if colors.dtype != np.uint8:
            c = colors.astype(np.float64)
            colors = (
                (np.clip(c, 0, 1) * 255 + 0.5).astype(np.uint8)
                if c.max(initial=0) <= 1.0
                else np.clip(c, 0, 255).astype(np.uint8)
            )
    return verts, faces, colors, arr


def export_parts(
    out_dir: str | Path,
    vertices: np.ndarray,
    faces: np.ndarray | None,
    colors: np.ndarray | None,
    labels: np.ndarray,
    parents: np.ndarray | None = None,
    levels: int | np.ndarray | None = None,
    format: str = "ply",
    extra: dict | None = None,
    level_labels: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
) -> dict:
    """Write one file per part plus labels, a coloured scene and ``parts.json``, atomically.

    Args:
        out_dir: the folder to create (replaced only once the new one is complete).
        vertices: [V, 3] float positions.
        faces: [F, 3] int triangles, or None for a point cloud.
        colors: [V, 3] uint8 vertex colours, or None.
        labels: [V] int part per vertex (-1 = none), part ids 0..P-1.
        parents: [P] int parent id of each part at the next coarser level (-1 = none).
        levels: the hierarchy level of the parts: one int, or [P] ints.
        format: ``ply``, ``obj`` or ``glb`` (point clouds are always PLY).
        extra: more entries for ``parts.json`` (config, source, ...).
        level_labels: [L, V] labels at every level, saved as ``labels_levels.npy``.
        progress: optional ``progress(stage, done, total)`` callback.

    Returns:
        The manifest written to ``parts.json``.
    """
    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    verts, faces, colors, lab = _check_geometry(vertices, faces, colors, labels, "labels")
    lab = lab.astype(np.int64)
    if lab.size and lab.min() < -1:
        raise ValueError(f"labels must be part ids >= 0 or -1 (none), found {lab.min()}")
    ids = np.unique(lab[lab >= 0])
    num_parts = int(ids.max()) + 1 if len(ids) else 0
    if parents is not None:
        parents = np.asarray(parents, dtype=np.int64).ravel()
        if len(parents) < num_parts:
            raise ValueError(f"parents must give one parent per part: {num_parts} parts but {len(parents)} parents")
    level_arr = None
    if levels is not None and np.ndim(levels) > 0:
        level_arr = np.asarray(levels, dtype=np.int64).ravel()
        if len(level_arr) < num_parts:
            raise ValueError(f"levels must give one level per part: {num_parts} parts but {len(level_arr)} levels")
    if level_labels is not None:
        level_labels = np.asarray(level_labels, dtype=np.int32)
        if level_labels.ndim != 2 or level_labels.shape[1] != len(verts):
            raise ValueError(f"level_labels must have shape (L, {len(verts)}), got {level_labels.shape}")
    point_cloud = faces is None
    ext = "ply" if point_cloud else fmt

    # group vertices and faces by part once (no per-part scan of the whole mesh)
    v_order = np.argsort(lab, kind="stable")
    v_bounds = np.searchsorted(lab[v_order], np.arange(-1, num_parts + 1))
    if not point_cloud:
        fl = face_labels(faces, lab)
        f_order = np.argsort(fl, kind="stable")
        f_bounds = np.searchsorted(fl[f_order], np.arange(-1, num_parts + 1))

    records = []
    with atomic_directory(out_dir) as tmp:
        for i, p in enumerate(ids):
            p = int(p)
            own = v_order[v_bounds[p + 1] : v_bounds[p + 2]]
            if point_cloud:
                keep, pf = np.sort(own), None
            else:
                pfaces = faces[f_order[f_bounds[p + 1] : f_bounds[p + 2]]]
                keep = np.union1d(own, pfaces.ravel())
                remap = np.full(len(verts), -1, np.int64)
                remap[keep] = np.arange(len(keep))
                pf = remap[pfaces]
            name = f"part_{p:04d}.{ext}"
            data = _mesh_bytes(verts[keep], pf, None if colors is None else colors[keep], ext)
            (tmp / name).write_bytes(data)
            pv = verts[own] if len(own) else verts[keep]
            records.append(
                {
                    "id": p,
                    "file": name,
                    "num_vertices": int(len(keep)),
                    "num_labelled_vertices": int(len(own)),
                    "num_faces": 0 if pf is None else int(len(pf)),
                    "bbox": [pv.min(0).tolist(), pv.max(0).tolist()],
                    "centroid": pv.mean(0).tolist(),
                    "parent": None if parents is None else int(parents[p]),
                    "level": None if levels is None else int(level_arr[p] if level_arr is not None else levels),
                }
            )
            report(progress, "export", i + 1, len(ids))
        np.save(tmp / "labels.npy", lab.astype(np.int32))
        if level_labels is not None:
            np.save(tmp / "labels_levels.npy", level_labels)
        # colours for the eye, an int `label` per vertex for tools (MeshLab, Blender, CloudCompare)
        seg = ply_bytes(verts, None if point_cloud else faces, label_colors(lab), {"label": lab.astype(np.int32)})
        (tmp / "segmented.ply").write_bytes(seg)
        manifest: dict[str, Any] = {
            "format": ext,
            "num_vertices": int(len(verts)),
            "num_faces": 0 if point_cloud else int(len(faces)),
            "num_parts": int(len(ids)),
            "unlabelled_vertices": int((lab < 0).sum()),
            "level": None if levels is None or level_arr is not None else int(levels),
            "labels": "labels.npy",
            "segmented": "segmented.ply",
            "parts": records,
        }
        if level_labels is not None:
            manifest["labels_levels"] = "labels_levels.npy"
        if extra:
            manifest.update(extra)
        atomic_write_json(tmp / "parts.json", manifest)
    log.info("exported %d parts to %s", len(ids), out_dir)
    return manifest


def selection_format(path: str | Path) -> str:
    """The export format of a selection output path (``ply``, ``obj`` or ``glb``).

    Raises:
        ValueError: another suffix (checked before any work is done).
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(
            f"selection output {path} must end in .ply, .obj or .glb, got {path.suffix or 'no suffix'!r}; "
            f"e.g. --out {path.with_suffix('.ply').name}"
        )
    return ext


def export_selection(
    path: str | Path,
    vertices: np.ndarray,
    faces: np.ndarray | None,
    colors: np.ndarray | None,
    mask: np.ndarray,
) -> dict:
    """Write the selected sub-mesh to ``path`` (.ply, .obj or .glb) and the mask beside it.

    The sub-mesh keeps every selected vertex (input order) and the faces whose three
    vertices are all selected; point clouds give a point PLY. The per-vertex mask
    [V] bool goes to ``<stem>.mask.npy`` next to ``path``. Both writes are atomic.

    Returns:
        ``{"mesh", "mask", "num_vertices", "num_faces"}``.
    """
    path = Path(path)
    ext = selection_format(path)
    verts, faces, colors, m = _check_geometry(vertices, faces, colors, mask, "mask")
    m = m.astype(bool)
    if not m.any():
        raise ValueError(f"the selection is empty: nothing to write to {path}; lower the threshold or click elsewhere")
    keep = np.flatnonzero(m)
    pf = None
    if faces is not None:
        remap = np.full(len(verts), -1, np.int64)
        remap[keep] = np.arange(len(keep))
        inside = m[faces].all(axis=1)
        pf = remap[faces[inside]]
    if faces is not None and ext != "ply" and pf is not None and len(pf) == 0:
        raise ValueError(f"the selection has no complete face to write as .{ext}; write .ply (points) instead")
    data = _mesh_bytes(
        verts[keep],
        pf if (pf is not None and len(pf)) or ext != "ply" else None,
        None if colors is None else colors[keep],
        ext,
    )
    atomic_write_bytes(path, data)
    mask_path = path.with_name(path.stem + ".mask.npy")
    buf = io.BytesIO()
    np.save(buf, m)
    atomic_write_bytes(mask_path, buf.getvalue())
    return {
        "mesh": str(path),
        "mask": str(mask_path),
        "num_vertices": int(len(keep)),
        "num_faces": 0 if pf is None else int(len(pf)),
    }
