"""Benchmark SAM mask generation: images/s and peak memory, with and without downscaling.

No weights can be downloaded here, so the network is a randomly initialised SAM of
the real size (segment-anything's registry with ``checkpoint=None``): the image
encoder and the mask decoder cost the same as with the official weights; only the
number of masks that survive the thresholds differs (random masks rarely pass, so
the later clean-up and writing are cheaper than in real use).

Each setting runs in its own process so that its peak RSS is its own.

    python tools/bench_masks.py                        # vit_b, 1600x1200 images, long side 1024 vs full size
    python tools/bench_masks.py --model vit_h --images 2 --size 1024x768
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _one(args: argparse.Namespace) -> None:
    import numpy as np
    import torch
    from PIL import Image

    from omniseg3d_mesh.config import MaskConfig
    from omniseg3d_mesh.masks.sam import generate_masks

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    images = work / "images"
    images.mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(0)
    for i in range(args.images):
        img = np.full((h, w, 3), 40, np.uint8)
        for _ in range(12):  # flat rectangles: something for SAM to find
            y, x = rng.integers(0, h * 3 // 4), rng.integers(0, w * 3 // 4)
            img[y : y + h // 5, x : x + w // 5] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(images / f"img_{i}.png")
    cfg = MaskConfig(
        model="auto" if args.model == "tiny" else args.model,
        points_per_side=args.points_per_side,
        max_long_side=args.max_long_side,
        device=args.device,
    )
    start = time.perf_counter()
    report = generate_masks(images, args.checkpoint, work / f"masks_{args.max_long_side}", cfg)
    total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    print(
        json.dumps(
            {
                "images_per_s": report["images_per_s"],
                "seconds_with_load": total,
                "peak_rss_mb": peak_mb,
                "gpu_peak_mb": gpu_mb,
                "masks": report["masks"],
                "device": report["device"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default="vit_b",
        choices=["vit_b", "vit_l", "vit_h", "tiny"],
        help="tiny = a toy SAM to check the script",
    )
    parser.add_argument("--size", default="1600x1200", help="image size WxH")
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--long-sides", default="1024,0", help="max_long_side settings to compare (0 = no downscaling)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-long-side", type=int, default=1024, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args)
        return

    import torch
    from segment_anything import sam_model_registry

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / f"random_{args.model}.pth"
        if args.model == "tiny":
            from omniseg3d_mesh.masks.sam import build_tiny_sam

            model = build_tiny_sam(64)
        else:
            model = sam_model_registry[args.model](checkpoint=None)
        torch.save(model.state_dict(), ckpt)
        rows = []
        for long_side in [int(v) for v in args.long_sides.split(",")]:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                "--model",
                args.model,
                "--size",
                args.size,
                "--images",
                str(args.images),
                "--points-per-side",
                str(args.points_per_side),
                "--max-long-side",
                str(long_side),
                "--device",
                args.device,
                "--threads",
                str(args.threads),
                "--checkpoint",
                str(ckpt),
                "--work",
                tmp,
            ]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                rows.append(
                    (
                        long_side,
                        None,
                        res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}",
                    )
                )
                continue
            rows.append((long_side, json.loads(res.stdout.strip().splitlines()[-1]), ""))
    print(
        f"\nSAM {args.model} (random weights), {args.images} image(s) {args.size}, {args.points_per_side}x{args.points_per_side} points, "
        f"{platform.processor() or platform.machine()}, {args.threads} threads"
    )
    print(
        f"{'max_long_side':>13} | {'SAM input':>10} | {'images/s':>8} | {'s/image':>7} | {'peak RSS MB':>11} | {'GPU peak MB':>11} | device"
    )
    print("-" * 84)
    w, h = (int(v) for v in args.size.split("x"))
    for long_side, r, err in rows:
        s = long_side / max(w, h) if 0 < long_side < max(w, h) else 1.0
        shown = f"{round(w * s)}x{round(h * s)}"
        if r is None:
            print(f"{long_side:>13} | {shown:>10} | failed: {err[:60]}")
            continue
        ips = r["images_per_s"]
        print(
            f"{long_side:>13} | {shown:>10} | {ips:8.3f} | {1 / ips:7.1f} | {r['peak_rss_mb']:11.0f} | {r['gpu_peak_mb']:11.0f} | {r['device']}"
        )
    print(
        f"\nreproduce: python tools/bench_masks.py --model {args.model} --size {args.size} --images {args.images} "
        f"--points-per-side {args.points_per_side} --long-sides {args.long_sides}"
    )


if __name__ == "__main__":
    main()
