"""Fragment cache formats: write + read time per view and size on disk.

The cache entry of one view holds the hit triangle (int32), two barycentric weights
(float16) and depth (float32) per pixel, plus its key. Compared, on real fragments of
the fit-bench scene (``tools/bench_fit.py``): the npz with DEFLATE level 1 (the format
before issue 13), the same npz stored without compression (the format now), and a
single raw ``.npy`` of a structured array (no key, no CRC: the floor of what any
format can cost). Writes go through ``atomic_save_npz`` (temporary file + rename; the
cache skips the fsync) except the raw ``.npy``.

    python tools/bench_fragment_cache.py --views 6
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vertices", type=int, default=100_000)
    ap.add_argument("--views", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from bench_fit import make_scene

    from omniseg3d_mesh.render.raycast import raycast_fragments
    from omniseg3d_mesh.workspace import atomic_save_npz

    scene, _, _ = make_scene(args.vertices, args.views)
    entries = [raycast_fragments(scene, cam).to_npz_arrays() for cam in scene.cameras]
    key = np.array("0" * 32)

    def npz(compress):
        def write(path, arrays):
            atomic_save_npz(path.with_suffix(".npz"), compress=compress, durable=False, key=key, **arrays)
            return path.with_suffix(".npz")

        def read(path):
            with np.load(path) as data:
                return str(data["key"]), data["face_ids"], data["bary"], data["depth"]

        return write, read

    def npy_write(path, arrays):
        rec = np.empty(arrays["face_ids"].shape, dtype=[("face", "<i4"), ("bary", "<f2", (2,)), ("depth", "<f4")])
        rec["face"], rec["bary"], rec["depth"] = arrays["face_ids"], arrays["bary"], arrays["depth"]
        np.save(path.with_suffix(".npy"), rec)
        return path.with_suffix(".npy")

    def npy_read(path):
        rec = np.load(path)
        return rec["face"], rec["bary"], rec["depth"]

    formats = [
        ("npz, DEFLATE level 1 (before)", *npz(True)),
        ("npz, stored (now)", *npz(False)),
        ("raw .npy (floor)", npy_write, npy_read),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for name, write, read in formats:
            tw, tr, size = [], [], []
            for _ in range(args.repeat):
                for i, arrays in enumerate(entries):
                    path = Path(td) / f"v{i}"
                    t = time.perf_counter()
                    written = write(path, arrays)
                    tw.append(time.perf_counter() - t)
                    size.append(os.path.getsize(written))
                    t = time.perf_counter()
                    read(written)
                    tr.append(time.perf_counter() - t)
            rows.append(
                [name, f"{np.median(tw) * 1e3:.1f}", f"{np.median(tr) * 1e3:.1f}", f"{np.median(size) / 2**20:.2f}"]
            )
    h, w = scene.cameras[0].height, scene.cameras[0].width
    print(f"\n{scene.num_vertices} vertices, {len(entries)} views {w}x{h}, median of {args.repeat} x {len(entries)}")
    cols = ["format", "write ms / view", "read ms / view", "MiB / view"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print("\ncommand: python tools/bench_fragment_cache.py " + " ".join(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
