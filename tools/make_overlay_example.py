"""Make docs/images/overlay_example.png: one view of a small synthetic scene and its part overlay.

The "photo" is a shaded rendering of the mesh (ray cast with Open3D); the overlay is
what ``render_views`` writes for that view (``<view>_overlay.png``), with the part
labels of the scene's ground truth. Run from the repository root:

    python tools/make_overlay_example.py [--out docs/images/overlay_example.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing


def build_scene():
    """A table (top + 4 legs), a mug (body + handle) on it and a snowman (3 balls) on a floor."""
    import trimesh

    from omniseg3d_mesh.scene import Scene
    from omniseg3d_mesh.synthetic.assembly import assemble_parts

    T = trimesh.transformations.translation_matrix
    R = trimesh.transformations.rotation_matrix
    parts = [trimesh.creation.box(extents=(5, 5, 0.1), transform=T((0, 0, -0.05))).subdivide().subdivide()]
    parts.append(trimesh.creation.box(extents=(1.6, 1.0, 0.08), transform=T((-0.5, 0, 0.76))))
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(
                trimesh.creation.box(extents=(0.08, 0.08, 0.72), transform=T((-0.5 + sx * 0.7, sy * 0.4, 0.36)))
            )
    parts.append(trimesh.creation.cylinder(radius=0.12, height=0.25, sections=48, transform=T((-0.3, 0.1, 0.925))))
    handle = trimesh.creation.torus(major_radius=0.07, minor_radius=0.02, major_sections=32, minor_sections=12)
    handle.apply_transform(R(np.pi / 2, (1, 0, 0)))
    handle.apply_translation((-0.3 + 0.13, 0.1, 0.93))
    parts.append(handle)
    for z, r in ((0.35, 0.35), (0.9, 0.25), (1.3, 0.17)):
        parts.append(trimesh.creation.icosphere(subdivisions=3, radius=r).apply_translation((1.1, -0.3, z)))
    verts, faces, labels = assemble_parts(parts)
    return Scene(vertices=verts, faces=faces), labels


def shade(scene, camera) -> np.ndarray:
    """[H, W, 3] uint8 Lambert-shaded view (the stand-in for a photo)."""
    from omniseg3d_mesh.render.raycast import cast_rays

    o, d = camera.pixel_rays()
    _, face, _ = cast_rays(scene, o, d)
    tri = scene.vertices[scene.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    hit = face >= 0
    nn = n[face[hit]]
    nn *= np.where(np.sum(nn * d[hit], axis=1) > 0, -1.0, 1.0)[:, None]  # face the camera
    light = np.array([0.4, -0.5, 0.8]) / np.linalg.norm([0.4, -0.5, 0.8])
    lum = 0.35 + 0.65 * np.clip(nn @ light, 0, 1)
    h, w = camera.height, camera.width
    rows = np.linspace(215, 170, h)[:, None, None] * np.ones((1, w, 3))
    img = rows.reshape(-1, 3)
    img[hit] = lum[:, None] * np.array([205, 200, 190])
    return np.clip(img, 0, 255).astype(np.uint8).reshape(h, w, 3)


def main() -> None:
    from PIL import Image

    from omniseg3d_mesh.render.labels import render_views
    from omniseg3d_mesh.scene import Camera

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/overlay_example.png"))
    ap.add_argument("--width", type=int, default=360)
    ap.add_argument("--height", type=int, default=270)
    args = ap.parse_args()

    scene, labels = build_scene()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cam = Camera.look_at(
            (2.6, -3.2, 2.3),
            (0.1, 0, 0.6),
            width=args.width,
            height=args.height,
            fov_y_deg=45,
            name="frame_000.png",
            image_path=tmp / "frame_000.png",
        )
        scene.cameras = [cam]
        Image.fromarray(shade(scene, cam)).save(cam.image_path)
        render_views(scene, labels, tmp / "views", backend="cpu", alpha=0.55)
        photo = np.asarray(Image.open(cam.image_path).convert("RGB"))
        over = np.asarray(Image.open(tmp / "views" / "frame_000_overlay.png").convert("RGB"))
    gap = np.full((args.height, 8, 3), 255, np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([photo, gap, over], axis=1)).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
