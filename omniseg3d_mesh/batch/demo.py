"""Tiny batches on disk for tests, the benchmark and trying ``omniseg-mesh batch``.

Each scene is a floor with two boxes (sizes and places vary with the seed), a
ring of cameras, shaded PNG images, ``cameras.json`` and masks per view
(``<stem>.npz`` with key ``masks``): one mask per box, one per floor and one for
both boxes together, so the masks already form a small part/group hierarchy.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from omniseg3d_mesh.workspace import atomic_save_npz, atomic_write_bytes, atomic_write_text

__all__ = ["write_demo_scene", "write_demo_batch"]

_COLORS = np.array([[150, 150, 150], [200, 80, 60], [60, 110, 200]], np.float32)


def _demo_geometry(seed: int, subdivisions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import trimesh

    from omniseg3d_mesh.synthetic.assembly import assemble_parts

    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 0.9, 3)
    b = rng.uniform(0.4, 0.8, 3)
    parts = [
        trimesh.creation.box(extents=(4, 4, 0.1), transform=trimesh.transformations.translation_matrix((0, 0, -0.05))),
        trimesh.creation.box(
            extents=a, transform=trimesh.transformations.translation_matrix((-0.8, rng.uniform(-0.3, 0.3), a[2] / 2))
        ),
        trimesh.creation.box(
            extents=b, transform=trimesh.transformations.translation_matrix((0.8, rng.uniform(-0.3, 0.3), b[2] / 2))
        ),
    ]
    for _ in range(subdivisions):
        parts = [p.subdivide() for p in parts]
    verts, faces, labels = assemble_parts(parts)
    return verts.astype(np.float32), faces.astype(np.int32), labels.astype(np.int32)


def write_demo_scene(
    out_dir: str | Path, seed: int = 0, views: int = 4, width: int = 48, height: int = 36, subdivisions: int = 2
) -> dict[str, Path]:
    """Write one tiny scene: ``mesh.ply``, ``images/``, ``cameras.json``, ``masks/``.

    Returns:
        ``{"mesh", "images", "cameras", "masks"}`` paths.
    """
    import trimesh
    from PIL import Image

    from omniseg3d_mesh.io.cameras_json import save_cameras_json
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.assembly import ring_cameras

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    vertices, faces, labels = _demo_geometry(seed, subdivisions)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    # binary PLY export returns bytes (trimesh's annotation is the union over all formats)
    atomic_write_bytes(out / "mesh.ply", cast(bytes, mesh.export(file_type="ply", encoding="binary")))
    cams = ring_cameras(views, radius=3.2, elevation=2.2, jitter=0.2, rng=seed + 1000, width=width, height=height, fov_y_deg=55,
                        image_dir=out / "images")  # fmt: skip
    scene = Scene(vertices=vertices, faces=faces, cameras=cams)
    for cam in cams:
        frags = compute_fragments(scene, cam, "cpu")
        valid = frags.vertex_ids[..., 0] >= 0
        best = np.take_along_axis(frags.vertex_ids, frags.weights.argmax(-1)[..., None], -1)[..., 0]
        pix = np.where(valid, labels[np.clip(best, 0, None)], -1)
        shade = 0.6 + 0.4 * (1.0 - np.clip((frags.depth - 2.0) / 4.0, 0, 1))
        img = np.where(valid[..., None], _COLORS[np.clip(pix, 0, 2)] * np.where(valid, shade, 0)[..., None], 0).astype(
            np.uint8
        )
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        atomic_write_bytes(out / "images" / cam.name, buf.getvalue())
        stack = [pix == 0, pix == 1, pix == 2, (pix == 1) | (pix == 2)]
        stack = [m for m in stack if m.sum() >= 4]
        masks = np.stack(stack) if stack else np.zeros((0, height, width), bool)
        atomic_save_npz(out / "masks" / f"{Path(cam.name).stem}.npz", compress=True, masks=masks)
    save_cameras_json(out / "cameras.json", cams)
    return {"mesh": out / "mesh.ply", "images": out / "images", "cameras": out / "cameras.json", "masks": out / "masks"}


def write_demo_batch(
    root: str | Path,
    num_scenes: int = 3,
    broken: Sequence[int] = (),
    defaults: dict[str, dict[str, Any]] | None = None,
    **scene_kwargs: Any,
) -> Path:
    """Write ``num_scenes`` demo scenes under ``root`` and a ``SCENES.yaml`` listing them.

    Args:
        root: target folder.
        num_scenes: how many scenes (named ``scene0``, ``scene1``, ...).
        broken: indices of scenes whose mesh file is deleted (to see a failure reported).
        defaults: the ``defaults:`` section (stage -> config fields); default: a tiny fit.
        scene_kwargs: passed to :func:`write_demo_scene` (views, width, height, subdivisions).

    Returns:
        The path of ``SCENES.yaml`` (workspaces go to ``root/workspaces/<name>``).
    """
    import yaml

    root = Path(root)
    scenes = []
    for i in range(num_scenes):
        name = f"scene{i}"
        paths = write_demo_scene(root / name, seed=i, **scene_kwargs)
        if i in broken:
            paths["mesh"].unlink()
        scenes.append({"name": name, **{k: str(p.relative_to(root)) for k, p in paths.items()}})
    if defaults is None:
        defaults = {
            "fit": {"steps": 30, "num_pixels": 256, "diffusion_iters": 10, "checkpoint_every": 0},
            "discretize": {"min_part_size": 5},
        }
    doc = {"workspace_root": "workspaces", "defaults": defaults, "scenes": scenes}
    return atomic_write_text(root / "SCENES.yaml", yaml.safe_dump(doc, sort_keys=False))
