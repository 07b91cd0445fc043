"""Pixel -> vertex scatter for the fit's backward pass: torch's native options, timed.

A fit step interpolates N pixel features from their K=3 vertices (a gather) and the
backward scatters the pixel gradients back onto the [V, D] vertex features. This
times forward + backward of the candidates on the fit's shapes:

* ``index_select``  -- ``features.index_select(0, ids)`` (backward: ``index_add_``), what fit.py uses
* ``advanced``      -- ``features[ids]`` (backward: ``index_put_(accumulate=True)``)
* ``embedding``     -- ``torch.nn.functional.embedding(ids, features)`` (backward: embedding_dense_backward)
* ``sparse_mm``     -- a sparse [N, V] interpolation matrix times features (backward: sparse^T @ grad)

torch-scatter is not used: it has no wheels for this torch and takes ~7 minutes to
compile, and the native ops above already cover the need.

    python tools/bench_scatter.py [--vertices 100000] [--pixels 8192] [--dim 16] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--vertices", type=int, default=100_000)
    ap.add_argument("--pixels", type=int, nargs="*", default=[2048, 8192, 32768])
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(args.vertices, args.dim, generator=g).to(dev).requires_grad_(True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    rows = []
    for n in args.pixels:
        ids = torch.randint(0, args.vertices, (n, 3), generator=g).to(dev)
        w = torch.rand(n, 3, generator=g).to(dev)
        w = w / w.sum(1, keepdim=True)
        flat = ids.reshape(-1)
        sp = (
            torch.sparse_coo_tensor(
                torch.stack([torch.arange(n, device=dev).repeat_interleave(3), flat]), w.reshape(-1), (n, args.vertices)
            )
            .coalesce()
            .to_sparse_csr()
        )

        candidates = {
            "index_select": lambda flat=flat, n=n, w=w: (
                feats.index_select(0, flat).view(n, 3, -1) * w[:, :, None]
            ).sum(1),
            "advanced": lambda ids=ids, w=w: (feats[ids] * w[:, :, None]).sum(1),
            "embedding": lambda ids=ids, w=w: (torch.nn.functional.embedding(ids, feats) * w[:, :, None]).sum(1),
            "sparse_mm": lambda sp=sp: sp @ feats,
        }
        ref = None
        for name, fn in candidates.items():
            out = fn()
            out.square().sum().backward()
            grad = feats.grad.clone()
            feats.grad = None
            if ref is None:
                ref = grad
            err = float((grad - ref).abs().max())
            sync()
            t = time.perf_counter()
            for _ in range(args.repeats):
                out = fn()
                out.square().sum().backward()
                feats.grad = None
            sync()
            ms = (time.perf_counter() - t) / args.repeats * 1e3
            rows.append((n, name, ms, err))
            print(f"{n:6d}  {name:13s}  {ms:8.2f} ms  (max grad diff vs index_select {err:.1e})", flush=True)

    print(
        f"\nforward + backward, V={args.vertices}, D={args.dim}, K=3, device {dev}, torch threads {torch.get_num_threads()}"
    )
    print("| pixels | op | ms / step | max grad diff |")
    print("|---|---|---|---|")
    for n, name, ms, err in rows:
        print(f"| {n} | {name} | {ms:.2f} | {err:.1e} |")
    print("\ncommand: python tools/bench_scatter.py " + " ".join(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
