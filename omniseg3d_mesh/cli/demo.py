"""``omniseg-mesh demo``: the whole job on a small synthetic scene, in a couple of minutes.

Builds an indoor scene with known parts/objects/groups into ``--out``, simulates SAM
masks (written in segment-anything's folder layout), fits the field through the
regular workspace entry point, discretizes it and exports the parts, draws a PNG
sheet (views coloured by discovered parts, and one click's hierarchy steps), and
prints the paper's evaluation table for the result.

Examples::

    omniseg-mesh demo                          # into ./omniseg_demo
    omniseg-mesh demo --out /tmp/demo --steps 600 --mask-preset hard
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from ..config import DiscretizeConfig, FitConfig, add_config_arguments, dataclass_from_namespace

HELP = "build a synthetic scene, fit, discretize and evaluate it"

# demo-sized fit (a 2-core CPU finishes in about a minute); any --flag overrides these
DEMO_FIT = {
    "steps": 300,
    "num_pixels": 2048,
    "lr": 0.1,
    "lr_final": 0.003,
    "min_patch_pixels": 100,
    "checkpoint_every": 0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("omniseg_demo"), metavar="DIR", help="output folder (default: ./omniseg_demo)"
    )
    parser.add_argument(
        "--preset", default="small", choices=["small", "medium", "large"], help="scene size (default: small)"
    )
    parser.add_argument(
        "--mask-preset",
        default="medium",
        choices=["clean", "medium", "hard"],
        help="how noisy the simulated SAM masks are (default: medium)",
    )
    parser.add_argument(
        "--scene-seed", type=int, default=0, metavar="N", help="seed of the synthetic scene and its masks (default: 0)"
    )
    parser.add_argument("--views", type=int, default=10, metavar="N", help="number of views (default: 10)")
    parser.add_argument("--width", type=int, default=320, metavar="PX", help="view width in pixels (default: 320)")
    parser.add_argument("--height", type=int, default=240, metavar="PX", help="view height in pixels (default: 240)")
    # discretize settings come from --config only (their flags would clash with the fit's: --seed)
    add_config_arguments(
        parser,
        FitConfig,
        note=" and its 'discretize:' section (no flags: they would clash with the fit's, e.g. --seed)",
    )


def _fit_config(args: argparse.Namespace) -> FitConfig:
    cfg = dataclass_from_namespace(FitConfig, args, args.config)
    given = {k.split(".", 1)[1] for k in vars(args) if k.startswith("FitConfig.")}
    demo = dict(DEMO_FIT)
    # sliver patches (inconsistent mask boundaries) are ignored; the size is given at 320x240
    demo["min_patch_pixels"] = int(round(demo["min_patch_pixels"] * args.width * args.height / (320 * 240)))
    return dataclasses.replace(cfg, **{k: v for k, v in demo.items() if k not in given})


def run(args: argparse.Namespace) -> int:
    from ..evaluation import (
        BenchmarkData,
        click_miou,
        discretization_scores,
        hierarchical_miou,
        make_queries,
        masks_only_miou,
    )
    from ..pipeline import discretize_workspace, fit_workspace
    from ..render.fragments import compute_fragments
    from ..select import Selector
    from ..synthetic.masks import gt_label_maps, simulate_masks, write_sam_masks
    from ..synthetic.scenes import make_scene, save_synthetic
    from ..workspace import Workspace
    from ._ui import console, next_hint, print_table, progress_bars

    fit_cfg = _fit_config(args)
    disc_cfg = dataclass_from_namespace(DiscretizeConfig, argparse.Namespace(), args.config)
    out: Path = args.out
    t0 = time.perf_counter()
    with progress_bars() as progress:
        syn = make_scene(args.preset, seed=args.scene_seed, num_views=args.views, width=args.width, height=args.height)
        frags = {}
        for i, cam in enumerate(syn.scene.cameras):
            frags[cam.name] = compute_fragments(syn.scene, cam, "cpu")
            progress("fragments", i + 1, len(syn.scene.cameras))
        paths = save_synthetic(out / "scene", syn, frags, progress=progress)
        masks = simulate_masks(syn, frags, args.mask_preset, seed=args.scene_seed, progress=progress)
        write_sam_masks(out / "scene" / "masks", masks)
        fitted = fit_workspace(
            paths["mesh"],
            images=paths["images"],
            cameras=paths["cameras"],
            masks=out / "scene" / "masks",
            workspace=Workspace(out / "workspace"),
            config=fit_cfg,
            progress=progress,
        )
        parts = discretize_workspace(fitted.workspace, out=out / "parts", config=disc_cfg, progress=progress)
    t_pipeline = time.perf_counter() - t0

    # ------------------------------------------------------------ evaluation
    ws, field = fitted.workspace, fitted.field
    maps = {v: gt_label_maps(syn, f) for v, f in frags.items()}
    gt_parts = {v: m["part"] for v, m in maps.items()}
    gt_objs = {v: m["object"] for v, m in maps.items()}
    queries = make_queries(gt_parts, syn.part_object, syn.stuff, per_view=4, seed=args.scene_seed)
    data = BenchmarkData(syn, frags, masks, gt_parts, gt_objs, queries, args.mask_preset)
    hier = hierarchical_miou(field, syn.scene, frags, gt_parts, gt_objs, queries)
    base = masks_only_miou(masks, frags, gt_parts, gt_objs, queries)
    labels = parts.labels
    part_ari, part_miou = discretization_scores(labels, syn.labels["part"])
    selector = Selector(field, syn.scene.vertices, syn.scene.faces)
    things = [o for o in range(syn.num_objects) if not syn.stuff[o]]
    clicks = click_miou(selector, syn.labels["object"], objects=things, seed=args.scene_seed)
    sheet = _draw_sheet(out / "demo_sheet.png", data, labels, selector)

    print_table(
        f"hierarchical segmentation ({len(queries)} queries, {args.mask_preset} masks; mIoU %)",
        ["method", "Level 1", "Level 2", "Average"],
        [
            ["2D masks only", base["level1"], base["level2"], base["average"]],
            [f"ours (lambda = {fit_cfg.hier_lambda:g})", hier["level1"], hier["level2"], hier["average"]],
        ],
    )
    console.print(
        "2D masks only: per query the best of its own view's mask proposals, picked with the ground truth (an "
        "oracle upper bound for a 2D method). It can lead at Level 2 when a view holds a whole-object mask; the "
        "field has to agree with every view at once.",
        highlight=False,
    )
    print_table(
        "3D",
        ["parts found", "part ARI", "part mIoU %", "click mIoU % (steps)", "click mIoU % (best threshold)"],
        [
            [
                int(labels.max()) + 1 if labels is not None else "-",
                part_ari,
                100 * part_miou,
                clicks["miou"],
                clicks["miou_threshold"],
            ]
        ],
    )
    console.print(
        f"scene: {paths['mesh']} ({syn.scene.num_vertices} vertices, {len(syn.scene.cameras)} views); "
        f"workspace: {ws.root}; parts: {out / 'parts'}; picture: {sheet}; {t_pipeline:.0f} s",
        highlight=False,
    )
    next_hint(f"omniseg-mesh view --workspace {ws.root}   (click the scene; Smaller / Bigger walk the hierarchy steps)")
    return 0


def _draw_sheet(path: Path, data, labels, selector) -> Path:
    """A PNG: shaded views, the same views coloured by discovered parts, one click's hierarchy steps."""
    import numpy as np
    from PIL import Image, ImageDraw

    from ..render.labels import overlay, render_label_map
    from ..select import Click
    from ..synthetic.scenes import render_shaded
    from ..workspace import atomic_write_bytes

    syn = data.syn
    cams = syn.scene.cameras[:3]
    shaded = [render_shaded(syn.scene, data.fragments[c.name], c) for c in cams]
    rows = [shaded]
    if labels is not None:
        rows.append(
            [overlay(img, render_label_map(data.fragments[c.name], labels), alpha=0.6) for img, c in zip(shaded, cams)]
        )
    # one click: the first query, its hierarchy steps in its own view
    if data.queries:
        q = data.queries[0]
        fr = data.fragments[q.view]
        cam = syn.scene.camera(q.view)
        vid = int(fr.dominant_vertex()[q.row, q.col])
        img = render_shaded(syn.scene, fr, cam)
        click = Click.at_vertex(vid)
        # the click's region-grown hierarchy steps (touching mesh pieces are joined), smallest first
        masks = [step.mask for step in selector.hierarchy(click)[:3]]
        tiles = []
        step_titles = [f"step {i}: {int(m.sum())} vertices" for i, m in enumerate(masks)]
        step_titles += ["(no bigger step)"] * (3 - len(masks))
        for m in masks:
            lab = np.where(m, 0, -1)
            tile = overlay(img, render_label_map(fr, lab), alpha=0.6)
            r0, c0 = q.row, q.col
            tile[max(r0 - 3, 0) : r0 + 4, max(c0 - 3, 0) : c0 + 4] = (0, 0, 0)
            tiles.append(tile)
        while len(tiles) < 3:
            tiles.append(np.full_like(img, 255))
        rows.append(tiles)
    h, w = shaded[0].shape[:2]
    sheet = np.full((len(rows) * h, 3 * w, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row[:3]):
            sheet[i * h : (i + 1) * h, j * w : (j + 1) * w] = tile
    im = Image.fromarray(sheet)
    draw = ImageDraw.Draw(im)
    titles = ["views", "discovered parts", "one click: hierarchy steps 0 / 1 / 2 (part -> object -> group)"][
        : len(rows)
    ]
    if labels is None and len(rows) == 2:
        titles = ["views", "click: hierarchy steps"]
    for i, t in enumerate(titles):
        draw.text((4, i * h + 2), t, fill=(255, 255, 255))
    if data.queries:  # each step tile says its size: step 2 (group) may differ from step 1 by a few vertices only
        for j, t in enumerate(step_titles):
            draw.text((j * w + 4, (len(rows) - 1) * h + 14), t, fill=(0, 0, 0))
    import io

    buf = io.BytesIO()
    im.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return path
