"""Write CPU-backend reference fragments for the GPU tests, on a machine that has open3d.

The GPU test machine may lack open3d (its wheel is 105 MB and the machine may have no
internet), so ``tests/render/test_nvdiffrast.py`` compares the nvdiffrast backend with
fragments the CPU ray caster computed here, stored together with the geometry and
cameras they came from (the test does not rebuild the scenes, so a different trimesh
there cannot make them disagree):

* ``box``: the test suite's box scene (two boxes on a floor), 4 views at 157x113 (sizes
  not divisible by 8, so the rasterizer's padding is exercised);
* ``sphere``: an icosphere of 5120 triangles, 2 views at 160x120 (many small triangles).

Per scene ``<name>__vertices`` [V, 3] float32, ``<name>__faces`` [F, 3] int32,
``<name>__K`` [n, 3, 3], ``<name>__world_to_cam`` [n, 4, 4], ``<name>__face_ids``
[n, H, W] int32, ``<name>__bary`` [n, H, W, 2] float16 (weights of the triangle's second
and third vertex), ``<name>__depth`` [n, H, W] float32; ``scenes`` lists the names.
A CPU test (``test_reference_matches_cpu_backend``) checks the file against the ray
caster, so it cannot go stale unnoticed.

    python tools/make_gpu_reference.py            # writes tests/render/data/nvdiffrast_reference.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "tests" / "render" / "data" / "nvdiffrast_reference.npz"


def reference_scenes():
    """[(name, Scene)] the reference is made of."""
    import trimesh

    from omniseg3d_mesh.scene import Camera, Scene
    from tests.helpers.scenes import make_box_scene

    box, _ = make_box_scene(num_views=4, width=157, height=113)
    ico = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    cams = [
        Camera.look_at((2.6, 0.4, 1.2), (0, 0, 0), width=160, height=120, fov_y_deg=45, name="a.png"),
        Camera.look_at((-0.5, -2.2, -1.4), (0.1, 0, 0), width=160, height=120, fov_y_deg=60, name="b.png"),
    ]
    sphere = Scene(vertices=np.asarray(ico.vertices), faces=np.asarray(ico.faces), cameras=cams)
    return [("box", box), ("sphere", sphere)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    from omniseg3d_mesh.render.raycast import raycast_fragments
    from omniseg3d_mesh.workspace import atomic_save_npz

    arrays: dict[str, np.ndarray] = {}
    names = []
    for name, scene in reference_scenes():
        frags = [raycast_fragments(scene, cam) for cam in scene.cameras]
        stored = [f.to_npz_arrays() for f in frags]
        arrays.update(
            {
                f"{name}__vertices": scene.vertices,
                f"{name}__faces": scene.faces,
                f"{name}__K": np.stack([c.K for c in scene.cameras]),
                f"{name}__world_to_cam": np.stack([c.world_to_cam for c in scene.cameras]),
                f"{name}__face_ids": np.stack([s["face_ids"] for s in stored]),
                f"{name}__bary": np.stack([s["bary"] for s in stored]),
                f"{name}__depth": np.stack([s["depth"] for s in stored]),
            }
        )
        names.append(name)
        print(
            f"{name}: {scene.num_vertices} vertices, {len(scene.faces)} faces, {len(scene.cameras)} views "
            f"{scene.cameras[0].width}x{scene.cameras[0].height}"
        )
    atomic_save_npz(args.out, compress=True, scenes=np.array(names), **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
