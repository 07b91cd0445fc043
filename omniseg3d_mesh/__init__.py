"""omniseg3d_mesh: hierarchical 3D segmentation of meshes and point clouds from
multi-view, class-agnostic 2D masks (the OmniSeg3D method, CVPR 2024).

Importing the package is cheap: heavy dependencies (torch, open3d, scikit-learn,
segment-anything) load only when a function that needs them is first used.
Public names are resolved lazily from the modules listed in ``_EXPORTS``.
"""

from __future__ import annotations

from ._lazy import lazy_getattr

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # scene and workspace
    "Scene": "omniseg3d_mesh.scene",
    "Camera": "omniseg3d_mesh.scene",
    "Workspace": "omniseg3d_mesh.workspace",
    # configs
    "FragmentConfig": "omniseg3d_mesh.config",
    "FitConfig": "omniseg3d_mesh.config",
    "SelectConfig": "omniseg3d_mesh.config",
    "DiscretizeConfig": "omniseg3d_mesh.config",
    "MaskConfig": "omniseg3d_mesh.config",
    "RenderConfig": "omniseg3d_mesh.config",
    # loading
    "load_scene": "omniseg3d_mesh.io.geometry",
    "load_geometry": "omniseg3d_mesh.io.geometry",
    "load_cameras": "omniseg3d_mesh.io.cameras",
    "load_masks": "omniseg3d_mesh.io.masks",
    # lifting
    "Fragments": "omniseg3d_mesh.render.fragments",
    "compute_fragments": "omniseg3d_mesh.render.fragments",
    "Hierarchy": "omniseg3d_mesh.hierarchy",
    "build_hierarchy": "omniseg3d_mesh.hierarchy",
    "hierarchical_contrastive_loss": "omniseg3d_mesh.losses",
    "fit_field": "omniseg3d_mesh.fit",
    "generate_masks": "omniseg3d_mesh.masks.sam",
    "Field": "omniseg3d_mesh.field",
    # using the field
    "Selector": "omniseg3d_mesh.select",
    "Click": "omniseg3d_mesh.select",
    "parse_click": "omniseg3d_mesh.select",
    "Step": "omniseg3d_mesh.select",
    "Selection": "omniseg3d_mesh.select",
    "Discretizer": "omniseg3d_mesh.discretize",
    "PartTree": "omniseg3d_mesh.discretize",
    "discretize": "omniseg3d_mesh.discretize",
    "export_parts": "omniseg3d_mesh.io.export",
    "render_label_map": "omniseg3d_mesh.render.labels",
    "label_map_for_camera": "omniseg3d_mesh.render.labels",
    "render_views": "omniseg3d_mesh.render.labels",
    "export_selection": "omniseg3d_mesh.io.export",
    # the workspace pipeline (the one module that knows the workspace layout)
    "fit_workspace": "omniseg3d_mesh.pipeline",
    "discretize_workspace": "omniseg3d_mesh.pipeline",
    "render_workspace": "omniseg3d_mesh.pipeline",
    "load_workspace": "omniseg3d_mesh.pipeline",
    "load_workspace_scene": "omniseg3d_mesh.pipeline",
    "load_field": "omniseg3d_mesh.pipeline",
    "open_selector": "omniseg3d_mesh.pipeline",
    "FitResult": "omniseg3d_mesh.pipeline",
    "Parts": "omniseg3d_mesh.pipeline",
    "RenderReport": "omniseg3d_mesh.pipeline",
    "FittedWorkspace": "omniseg3d_mesh.pipeline",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(__all__)
