"""Synthetic data: small scenes of known parts (:func:`assemble_parts` + :func:`ring_cameras`
in :mod:`~omniseg3d_mesh.synthetic.assembly`, masks from :func:`label_map_masks`), synthetic
indoor scenes with a known part / object / group hierarchy and a SAM-like mask simulator,
and the Princeton benchmark's meshes with annotator-split masks
(:mod:`~omniseg3d_mesh.synthetic.psb`): the data behind the benchmarks (``tools/eval_hierarchy.py``, the cluttered
rooms of ``tools/eval_rooms.py``, ``tools/eval_psb.py``), the tests, the tools and ``omniseg-mesh demo``.

Importing this package is cheap; the heavy modules load on first use.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_EXPORTS = {
    "SyntheticScene": "omniseg3d_mesh.synthetic.scenes",
    "make_scene": "omniseg3d_mesh.synthetic.scenes",
    "make_room": "omniseg3d_mesh.synthetic.scenes",
    "render_shaded": "omniseg3d_mesh.synthetic.scenes",
    "scan_points": "omniseg3d_mesh.synthetic.scenes",
    "save_synthetic": "omniseg3d_mesh.synthetic.scenes",
    "gt_label_maps": "omniseg3d_mesh.synthetic.masks",
    "simulate_masks": "omniseg3d_mesh.synthetic.masks",
    "simulate_view_masks": "omniseg3d_mesh.synthetic.masks",
    "write_sam_masks": "omniseg3d_mesh.synthetic.masks",
    "label_map_masks": "omniseg3d_mesh.synthetic.masks",
    "assemble_parts": "omniseg3d_mesh.synthetic.assembly",
    "ring_cameras": "omniseg3d_mesh.synthetic.assembly",
    "MaskSimConfig": "omniseg3d_mesh.synthetic.masks",
    "PSBMesh": "omniseg3d_mesh.synthetic.psb",
    "load_psb": "omniseg3d_mesh.synthetic.psb",
    "simulate_psb_masks": "omniseg3d_mesh.synthetic.psb",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
