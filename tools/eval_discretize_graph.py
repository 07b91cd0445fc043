#!/usr/bin/env python
"""Which graph discretization should cut: the mesh graph, or the one with touching pieces bridged.

Fits the fields of ``tools/eval_hierarchy.py``'s 3D table (lambda = 0 and 0.5, D = 16)
on its synthetic room and scores the discretization (``evaluation.evaluate_3d``) on
both graphs: ``graph.vertex_graph(..., bridge=False)`` (what ``Discretizer`` and the
viewer use) and ``bridge=True`` (the selector's region-growing graph). Prints a
markdown table and the command. Accepts eval_hierarchy's options, e.g.

    python tools/eval_discretize_graph.py --seeds 0 --presets hard --num-pixels 4096 --lr 0.1 \\
        --lr-final 0.003 --smooth-weight 1.0 --min-patch-pixels 115
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_hierarchy import _parse  # noqa: E402


def main(argv=None) -> None:
    import omniseg3d_mesh.discretize as discretize_module
    from omniseg3d_mesh import graph
    from omniseg3d_mesh.config import FitConfig
    from omniseg3d_mesh.evaluation import evaluate_3d, prepare_benchmark
    from omniseg3d_mesh.fit import fit_field

    args = _parse(argv)
    t0 = time.time()
    rows = []
    for preset in args.presets:
        for seed in args.seeds:
            data = prepare_benchmark(args.scene, preset, seed, args.views, args.width, args.height, args.queries)
            for lam in (0.0, 0.5):
                kw = dict(
                    steps=args.steps, hier_lambda=lam, feature_dim=16, seed=seed, device=args.device, checkpoint_every=0
                )
                kw.update(
                    {
                        n: getattr(args, n)
                        for n in ("num_pixels", "lr", "lr_final", "smooth_weight", "min_patch_pixels")
                        if getattr(args, n) is not None
                    }
                )
                field = fit_field(data.syn.scene, data.masks, FitConfig(**kw))
                for bridge in (False, True):
                    # Discretizer builds its graph with discretize.vertex_graph: swap in the variant
                    discretize_module.vertex_graph = lambda v, f, knn=8, bridge=bridge, **_: graph.vertex_graph(
                        v, f, knn, bridge=bridge
                    )
                    try:
                        r = evaluate_3d(field, data, seed=seed)
                    finally:
                        discretize_module.vertex_graph = graph.vertex_graph
                    rows.append((preset, seed, lam, "bridged" if bridge else "mesh (default)", r))
    print("| preset | seed | lambda | graph | part ARI | part mIoU | object ARI | object mIoU (best level) |")
    print("|---|---|---|---|---|---|---|---|")
    for preset, seed, lam, name, r in rows:
        print(
            f"| {preset} | {seed} | {lam} | {name} | {r['part_ari']:.3f} | {r['part_miou']:.1f} | {r['object_ari']:.3f} | {r['object_miou']:.1f} |"
        )
    print(
        f"\nCommand: python tools/eval_discretize_graph.py {' '.join(sys.argv[1:] if argv is None else argv)} ({time.time() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
