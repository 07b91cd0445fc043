#!/usr/bin/env python
"""The Princeton Segmentation Benchmark (psb-dev) under an annotator split.

Per mesh and fold, one human annotator is held out; SAM-like masks are rendered from
the other annotators' segmentations (``synthetic.psb.simulate_psb_masks``) on cameras
around the mesh; the field is fitted with the DEFAULT FitConfig (plus ``--config``
overrides) and discretized with the DEFAULT DiscretizeConfig (plus overrides); the
vertex parts become face labels and are scored against the held-out annotator with the
benchmark's metrics (Chen, Golovinskiy, Funkhouser 2009: Rand-index error, cut
discrepancy, GCE, LCE, Hamming distance with Rm / Rf; area-weighted as the paper).
The human-vs-human row (each annotator against every other) gives the scale. The
automatic level reads the training masks (as ``discretize_workspace`` does:
``Discretizer.fit(..., views=...)``); ``--config`` with ``discretize: {mask_granularity:
false}`` gives the field-alone rule.

Click table (issue 12): each held-out segment is clicked at its central vertex and
scored (vertex IoU) for the voting anchor (no learning), the field's raw cosine at the
best threshold, and the user's click (``Selector.hierarchy``, best step).

    python tools/eval_psb.py                       # 15 meshes, 2 folds, seed 0
    python tools/eval_psb.py --quick               # 16 views at 160 px, 1 fold, 300 steps
    python tools/eval_psb.py --meshes 1 101 --folds 3 --seeds 0 1
    python tools/eval_psb.py --cache /tmp/psb_cache  # reuse fitted fields (discretizer work)
    python tools/eval_psb.py --meshes 101 82 87 --folds 1 --subdivide 1900000 --views 300  # at ~2M vertices
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METRICS = ("rand_index", "cut_discrepancy", "gce", "lce", "hamming", "hamming_rm", "hamming_rf")
# Chen et al. 2009, Table/Figure 5, on the full benchmark (380 meshes), Rand-index error
PUBLISHED = (("human", 0.103), ("RandCuts", 0.152), ("NormCuts", 0.172), ("ShapeDiam", 0.175), ("K-means", 0.251))


def _parse(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "psb-dev",
        help="folder with N.off and seg/N/N_k.seg",
    )
    p.add_argument("--meshes", nargs="*", default=None, help="model ids (default: all in --data)")
    p.add_argument(
        "--folds", type=int, default=None, help="held-out annotators per mesh, evenly spread (default 2; quick: 1)"
    )
    p.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds (cameras, masks, fit)")
    p.add_argument("--views", type=int, default=None, help="cameras around each mesh (default 40; quick: 16)")
    p.add_argument("--size", type=int, default=None, help="image width = height (default 256; quick: 160)")
    p.add_argument("--steps", type=int, default=None, help="fit steps (default: FitConfig's; quick: 300)")
    p.add_argument(
        "--subdivide",
        type=int,
        default=0,
        metavar="V",
        help="split every triangle in four until each mesh has at least V vertices (synthetic.psb.subdivide_psb: "
        "the same shapes and labels at a dense scan's vertex count; the scale sweep: meshes 101 82 87 with "
        "90000 / 450000 / 1900000 and --views 60 / 150 / 300, which land at ~130k / ~520k / ~2.1M vertices)",
    )
    p.add_argument("--mask-preset", default="medium", choices=["clean", "medium", "hard"], help="SAM-like error preset")
    p.add_argument("--config", type=Path, default=None, help="YAML with fit: / discretize: overrides of the defaults")
    p.add_argument("--level", type=int, default=None, help="discretize --level (default: DiscretizeConfig's)")
    p.add_argument("--num-parts", type=int, default=None, help="discretize --num-parts (default: DiscretizeConfig's)")
    p.add_argument("--face-based", action="store_true", help="weigh every face 1 instead of its area")
    p.add_argument("--no-clicks", action="store_true", help="skip the click table")
    p.add_argument(
        "--study-granularity",
        action="store_true",
        help="also score other rules for the automatic level on the same part trees",
    )
    p.add_argument("--quick", action="store_true", help="16 views at 160 px, 1 fold, 300 fit steps")
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder to keep fitted fields in (keyed by mesh, fold, seed and fit settings)",
    )
    p.add_argument("--device", default="auto", help="torch device for fitting")
    p.add_argument("--json", type=Path, default=None, help="also write every number to this JSON file")
    args = p.parse_args(argv)
    q = args.quick
    args.folds = args.folds or (1 if q else 2)
    args.views = args.views or (16 if q else 40)
    args.size = args.size or (160 if q else 256)
    if args.steps is None and q:
        args.steps = 300
    return args


def _configs(args):
    from omniseg3d_mesh.config import DiscretizeConfig, FitConfig, config_from_dict, load_config_file

    fit_kw = load_config_file(args.config, FitConfig) if args.config else {}
    disc_kw = load_config_file(args.config, DiscretizeConfig) if args.config else {}
    if args.steps is not None:
        fit_kw["steps"] = args.steps
    fit_kw.setdefault("checkpoint_every", 0)
    fit_kw["device"] = args.device
    if args.level is not None:
        disc_kw["level"] = args.level
    if args.num_parts is not None:
        disc_kw["num_parts"] = args.num_parts
    return config_from_dict(FitConfig, fit_kw, "fit settings"), config_from_dict(
        DiscretizeConfig, disc_kw, "discretize settings"
    )


def held_out_annotators(annotators: list[str], folds: int) -> list[str]:
    """``folds`` annotators spread evenly over the list (all of them when folds >= len)."""
    if folds >= len(annotators):
        return list(annotators)
    idx = np.unique(np.round(np.linspace(0, len(annotators) - 1, folds)).astype(int))
    return [annotators[i] for i in idx]


def _fit_cached(args, scene, masks, fit_cfg, key_parts):
    from omniseg3d_mesh.config import config_to_dict
    from omniseg3d_mesh.fit import fit_field, resolved_smooth_weight

    path = None
    if args.cache is not None:
        # the settings as the fit applies them (an older config's null smoothness weight is 1)
        settings = {**config_to_dict(fit_cfg), "smooth_weight": resolved_smooth_weight(fit_cfg)}
        blob = json.dumps(
            {
                **key_parts,
                "fit": {k: v for k, v in settings.items() if k not in ("device", "num_threads")},
            },
            sort_keys=True,
            default=str,
        )
        path = args.cache / f"{key_parts['mesh']}_{hashlib.sha1(blob.encode()).hexdigest()[:16]}.npy"
        if path.is_file():
            return np.load(path), 0.0
    t0 = time.perf_counter()
    feats = fit_field(scene, masks, fit_cfg).features
    dt = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, feats)
        tmp.replace(path)
    return feats, dt


def _click_scores(psb, feats, frags, masks, held: str, min_vertices: int = 10) -> dict:
    """Per held-out segment: voting, raw cosine (best threshold), hierarchy best step, and another annotator."""
    from omniseg3d_mesh.evaluation import (
        best_threshold_iou,
        central_vertex,
        mask_iou,
        vertex_mask_membership,
        voting_scores,
    )
    from omniseg3d_mesh.field import normalize_features
    from omniseg3d_mesh.select import Click, Selector

    sc = psb.scene
    v = sc.num_vertices
    gt = psb.vertex_labels[held]
    segs = [s for s in np.unique(gt[gt >= 0]) if (gt == s).sum() >= min_vertices]
    if not segs:
        return {}
    clicks = np.array([central_vertex(sc.vertices, np.flatnonzero(gt == s)) for s in segs])
    mem = [vertex_mask_membership(frags[name], m, v)[0] for name, m in masks.items() if len(m)]
    vote = voting_scores(mem, clicks)
    f = normalize_features(feats, dtype=None)
    sel = Selector(f, sc.vertices, sc.faces)
    others = [a for a in psb.annotators if a != held]
    out = {"voting": [], "raw": [], "click": [], "human": []}
    for i, (s, c) in enumerate(zip(segs, clicks)):
        target = gt == s
        out["voting"].append(best_threshold_iou(vote[i], target)[0])
        out["raw"].append(best_threshold_iou(f @ f[c], target)[0])
        steps = sel.hierarchy(Click.at_vertex(int(c)))
        out["click"].append(max((mask_iou(np.asarray(st.mask, bool), target) for st in steps), default=0.0))
        # another human: the segment containing the click, of each other annotator
        out["human"].append(
            float(np.mean([mask_iou(psb.vertex_labels[a] == psb.vertex_labels[a][c], target) for a in others]))
        )
    return {k: 100.0 * float(np.mean(x)) for k, x in out.items()}


def _granularity_rules(tree, held_parts: int, views=None) -> dict:
    """Number of parts each rule picks on one part tree (cuts of its dendrogram); with
    ``views`` (pixel vertex, masks) also the rules read from the training masks."""
    p = tree.num_parts(0)
    h = tree.merge_heights()

    def at_threshold(t):
        return p - int((h <= t).sum())

    floor = tree.noise_floor
    tree.noise_floor = 0.0  # the rules before issue 14's noise floor: ranges counted from 0
    rules = {
        "finest parts (level 0)": p,
        "widest gap, any height": tree.stable_num_parts(max_distance=2.01, tolerance=1.0),
        "widest gap below distance 1": tree.stable_num_parts(tolerance=1.0),
        "widest gap below 1, near-ties (80 %) to the finer cut (previous default)": tree.stable_num_parts(),
    }
    tree.noise_floor = floor
    rules["the same, ranges counted from the field's noise floor (default without masks)"] = tree.stable_num_parts()
    for t in (0.3, 0.5, 0.6, 0.7):
        rules[f"fixed cut at cosine distance {t}"] = at_threshold(t)
    if views is not None:
        from omniseg3d_mesh.discretize import mask_split_votes

        sep, touch = mask_split_votes(tree, views)
        rules["default: the cut most mask votes agree with (each merge weighs by its votes)"] = tree.mask_num_parts(
            sep, touch
        )
        for c in (0.4, 0.6):  # the majority (1/2) moved: each undone merge scores sep - c * touch
            rules[f"masks: the same, a merge undone above {c:.0%} separating votes"] = tree.mask_num_parts(
                sep * 0.5 / c, touch
            )
        frac = np.where(touch > 0, sep / np.maximum(touch, 1), 0.5)  # every merge one vote
        rules["masks: the same, every merge weighs 1 (fraction of separating votes - 1/2)"] = tree.mask_num_parts(
            frac, np.ones(len(frac))
        )
        rules["masks: 1 + merges with more separating than joining votes"] = 1 + int((2 * sep > touch).sum())
    rules["oracle: as many parts as the held-out human"] = min(held_parts, p)
    return rules


def _granularity_study(psb, feats, held, disc_cfg, area_weighted: bool, views=None) -> dict:
    from omniseg3d_mesh.discretize import Discretizer
    from omniseg3d_mesh.evaluation import rand_index_error
    from omniseg3d_mesh.graph import vertex_to_face_labels

    sc = psb.scene
    gt = psb.face_labels[held]
    w = psb.areas if area_weighted else None
    tree = Discretizer(disc_cfg, level=0, num_parts=None).fit(feats, sc.vertices, sc.faces).tree_
    ri = {}
    for k in range(1, tree.num_parts(0) + 1):
        lab = tree.labels_for_num_parts(k)[tree.part_labels]
        ri[k] = rand_index_error(vertex_to_face_labels(sc.faces, lab), gt, w)
    picks = _granularity_rules(tree, len(np.unique(gt)), views)
    out = {name: ri[max(1, k)] for name, k in picks.items()}
    out["_parts"] = picks
    out["oracle: best cut of the tree"] = min(ri.values())
    return out


def _human_pairs(psb, area_weighted: bool) -> dict:
    """The benchmark's metrics of every ordered pair of annotators: ``(a, b)`` scores
    annotator ``a``'s segmentation against ``b``'s as the ground truth."""
    from omniseg3d_mesh.evaluation import segmentation_metrics

    sc = psb.scene
    return {
        (a, b): segmentation_metrics(sc.vertices, sc.faces, psb.face_labels[a], psb.face_labels[b], area_weighted)
        for a in psb.annotators
        for b in psb.annotators
        if a != b
    }


def _mean_rows(rows) -> dict:
    return {k: float(np.nanmean([r[k] for r in rows])) for k in METRICS}


def run_mesh(args, name: str, fit_cfg, disc_cfg) -> dict:
    from omniseg3d_mesh.discretize import Discretizer, pixel_vertices
    from omniseg3d_mesh.evaluation import segmentation_metrics, similarity_levels
    from omniseg3d_mesh.graph import vertex_to_face_labels
    from omniseg3d_mesh.render.fragments import compute_fragments
    from omniseg3d_mesh.synthetic.psb import load_psb, simulate_psb_masks, subdivide_psb

    out = {"folds": []}
    for seed in args.seeds:
        psb = load_psb(args.data / f"{name}.off", num_views=args.views, width=args.size, height=args.size, seed=seed)
        if "human" not in out:
            # on the mesh as loaded: subdividing keeps every segment's area and boundary, and the
            # 2 x C(annotators, 2) comparisons (cut discrepancy's distances) grow with the faces
            pairs = _human_pairs(psb, not args.face_based)
            out["human"] = _mean_rows(pairs.values())
            out["human_parts"] = float(np.mean([len(np.unique(x)) for x in psb.face_labels.values()]))
        if args.subdivide:
            psb = subdivide_psb(psb, args.subdivide)
        sc = psb.scene
        out.update(category=psb.category, annotators=len(psb.annotators), vertices=sc.num_vertices, faces=len(sc.faces))
        frags = {c.name: compute_fragments(sc, c, "cpu") for c in sc.cameras}
        for held in held_out_annotators(psb.annotators, args.folds):
            t0 = time.perf_counter()
            mask_split = [a for a in psb.annotators if a != held]
            masks = simulate_psb_masks(psb, frags, mask_split, args.mask_preset, seed=seed)
            cfg = replace(fit_cfg, seed=seed)
            key = {
                "mesh": name,
                "seed": seed,
                "held": held,
                "views": args.views,
                "size": args.size,
                "preset": args.mask_preset,
                **({"subdivide": args.subdivide} if args.subdivide else {}),
            }
            feats, fit_s = _fit_cached(args, sc, masks, cfg, key)
            # the training masks and their fragments, as discretize_workspace passes them
            views = [(pixel_vertices(frags[n].vertex_ids, frags[n].weights), m) for n, m in masks.items()]
            t1 = time.perf_counter()
            disc = Discretizer(disc_cfg).fit(feats, sc.vertices, sc.faces, views=views)
            disc_s = time.perf_counter() - t1
            face_lab = vertex_to_face_labels(sc.faces, disc.labels_)
            res = segmentation_metrics(sc.vertices, sc.faces, face_lab, psb.face_labels[held], not args.face_based)
            res.update(
                seed=seed,
                held=held,
                parts=int(len(np.unique(face_lab))),
                held_parts=int(len(np.unique(psb.face_labels[held]))),
            )
            # the same held-out annotator predicted by each other human in turn: the
            # human row for exactly these folds (equal to the all-pairs row when every
            # annotator is held out once, as RI is symmetric)
            res["human_matched"] = _mean_rows([pairs[(a, held)] for a in mask_split])
            # the part gap (as tools/bench_fit.py and eval_scale.py measure it): mean cosine of vertex
            # pairs on one held-out segment minus pairs on two; a field that lost its parts has none
            held_v = psb.vertex_labels[held]
            same, other, _ = similarity_levels(feats, held_v, np.zeros(len(held_v), np.int64), held_v >= 0, seed=seed)
            res.update(cos_same_part=same, cos_other_part=other, part_gap=same - other)
            res.update(fit_s=fit_s, discretize_s=disc_s, level=int(getattr(disc, "level_", disc.config.level)))
            if not args.no_clicks:
                res["clicks"] = _click_scores(psb, feats, frags, masks, held)
            if args.study_granularity:
                res["granularity"] = _granularity_study(psb, feats, held, disc_cfg, not args.face_based, views)
            res["seconds"] = time.perf_counter() - t0
            out["folds"].append(res)
            print(
                f"[{name} seed {seed} held-out {held}] {sc.num_vertices} vertices: RI {res['rand_index']:.3f} parts {res['parts']} "
                f"(human {res['held_parts']}) part gap {res['part_gap']:.3f} "
                f"fit {fit_s:.0f}s disc {disc_s:.1f}s"
                + (
                    f" clicks vote {res['clicks'].get('voting', float('nan')):.1f} raw {res['clicks'].get('raw', float('nan')):.1f} "
                    f"click {res['clicks'].get('click', float('nan')):.1f}"
                    if "clicks" in res
                    else ""
                ),
                file=sys.stderr,
                flush=True,
            )
    return out


def _fold_mean(folds, key):
    return float(np.nanmean([f[key] for f in folds]))


def _matched(folds, key):
    """The matched human figure of these folds (``human_matched``)."""
    return float(np.nanmean([f["human_matched"][key] for f in folds]))


def tables(args, results: dict, cmd: str, seconds: float) -> str:
    names = list(results)
    w = "face-based" if args.face_based else "area-weighted"
    lines = [
        f"psb-dev under the annotator split: {len(names)} meshes, {args.folds} held-out annotator(s) per mesh, seeds {args.seeds}, "
        f"{args.views} views at {args.size}x{args.size}, `{args.mask_preset}` SAM-like masks from the other annotators; "
        f"fit and discretize with the defaults{' + ' + str(args.config) if args.config else ''}"
        f"{'' if args.steps is None else f' (steps {args.steps})'}; metrics {w} (lower is better).",
        "",
        "| mesh | category | parts (held-out human) | Rand index | cut discr. | GCE | LCE | Hamming | Rm | Rf "
        "| human-vs-human RI | other humans vs the held-out RI |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        r = results[n]
        fo = r["folds"]
        lines.append(
            f"| {n} | {r['category']} | {_fold_mean(fo, 'parts'):.1f} ({_fold_mean(fo, 'held_parts'):.1f}) | "
            + " | ".join(f"{_fold_mean(fo, k):.3f}" for k in METRICS)
            + f" | {r['human']['rand_index']:.3f} | {_matched(fo, 'rand_index'):.3f} |"
        )
    all_folds = [f for n in names for f in results[n]["folds"]]
    mesh_mean = {k: float(np.nanmean([_fold_mean(results[n]["folds"], k) for n in names])) for k in METRICS}
    human_mean = {k: float(np.nanmean([results[n]["human"][k] for n in names])) for k in METRICS}
    matched_mean = {k: float(np.nanmean([_matched(results[n]["folds"], k) for n in names])) for k in METRICS}
    spread = {
        k: float(
            np.std(
                [
                    np.nanmean([_fold_mean([f for f in results[n]["folds"] if f["seed"] == s], k) for n in names])
                    for s in args.seeds
                ]
            )
        )
        for k in METRICS
    }
    lines += [
        "",
        f"**Summary** (mean over meshes; ± = std over seeds {args.seeds})",
        "",
        "| method | Rand index | cut discr. | GCE | LCE | Hamming | Rm | Rf |",
        "|---|---|---|---|---|---|---|---|",
        "| ours: fit + discretize, defaults | "
        + " | ".join(f"{mesh_mean[k]:.3f} ± {spread[k]:.3f}" for k in METRICS)
        + " |",
        "| human vs human, same meshes (every pair) | " + " | ".join(f"{human_mean[k]:.3f}" for k in METRICS) + " |",
        "| human vs the held-out annotators (each other human predicts the same folds) | "
        + " | ".join(f"{matched_mean[k]:.3f}" for k in METRICS)
        + " |",
    ]
    for label, ri in PUBLISHED:
        lines.append(f"| {label} (published, full benchmark) | {ri:.3f} | | | | | | |")
    lines += [
        "",
        "**Part gap** (mean cosine of vertex pairs on one held-out segment minus pairs on two; fit seconds per fold)",
        "",
        "| mesh | vertices | views | cos same segment | cos other segment | part gap | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        fo = results[n]["folds"]
        lines.append(
            f"| {n} | {results[n]['vertices']} | {args.views} | {_fold_mean(fo, 'cos_same_part'):.3f} | "
            f"{_fold_mean(fo, 'cos_other_part'):.3f} | {_fold_mean(fo, 'part_gap'):.3f} | {_fold_mean(fo, 'fit_s'):.0f} |"
        )
    lines.append(
        f"| mean | {np.mean([results[n]['vertices'] for n in names]):.0f} | {args.views} | "
        f"{np.mean([_fold_mean(results[n]['folds'], 'cos_same_part') for n in names]):.3f} | "
        f"{np.mean([_fold_mean(results[n]['folds'], 'cos_other_part') for n in names]):.3f} | "
        f"{np.mean([_fold_mean(results[n]['folds'], 'part_gap') for n in names]):.3f} | |"
    )
    cats = sorted({results[n]["category"] for n in names})
    lines += [
        "",
        "**Per category** (Rand-index error)",
        "",
        "| category | meshes | ours | human vs human | other humans vs the held-out |",
        "|---|---|---|---|---|",
    ]
    for c in cats:
        ns = [n for n in names if results[n]["category"] == c]
        lines.append(
            f"| {c} | {len(ns)} | {np.mean([_fold_mean(results[n]['folds'], 'rand_index') for n in ns]):.3f} | {np.mean([results[n]['human']['rand_index'] for n in ns]):.3f} | "
            f"{np.mean([_matched(results[n]['folds'], 'rand_index') for n in ns]):.3f} |"
        )
    if not args.no_clicks and all("clicks" in f for f in all_folds):
        keys = (
            ("voting", "voting anchor (no learning)"),
            ("raw", "field, raw cosine at the best threshold"),
            ("click", "user's click (hierarchy, best step)"),
            ("human", "another annotator's segment at the click"),
        )
        lines += [
            "",
            "**Click part mIoU** (%, each held-out segment clicked at its central vertex, vertex IoU; per mesh, then mean)",
            "",
            "| mesh | " + " | ".join(k for k, _ in keys) + " |",
            "|---|" + "---|" * len(keys),
        ]
        for n in names:
            fo = results[n]["folds"]
            lines.append(
                f"| {n} | "
                + " | ".join(f"{np.nanmean([f['clicks'].get(k, np.nan) for f in fo]):.1f}" for k, _ in keys)
                + " |"
            )
        lines += ["", "| method | mIoU | ± over seeds |", "|---|---|---|"]
        for k, label in keys:
            per_mesh = [np.nanmean([f["clicks"].get(k, np.nan) for f in results[n]["folds"]]) for n in names]
            per_seed = [
                np.nanmean(
                    [
                        np.nanmean([f["clicks"].get(k, np.nan) for f in results[n]["folds"] if f["seed"] == s])
                        for n in names
                    ]
                )
                for s in args.seeds
            ]
            lines.append(f"| {label} | {np.nanmean(per_mesh):.1f} | {np.std(per_seed):.1f} |")
    if args.study_granularity and all("granularity" in f for f in all_folds):
        rules = [r for r in all_folds[0]["granularity"] if not r.startswith("_")]
        lines += [
            "",
            "**Automatic granularity: rules compared on the same part trees** (Rand-index error, mean over meshes)",
            "",
            "| rule for the number of parts | Rand index |",
            "|---|---|",
        ]
        for r in rules:
            per_mesh = [np.mean([f["granularity"][r] for f in results[n]["folds"]]) for n in names]
            lines.append(f"| {r} | {np.mean(per_mesh):.3f} |")
    import torch

    fit_s = [f["fit_s"] for f in all_folds if f["fit_s"] > 0]
    lines += [
        "",
        f"Command: `{cmd.strip()}`",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != 'cpu' else 'CPU only'}; "
        f"total {seconds:.0f} s"
        + (f", {np.mean(fit_s):.1f} s per fit" if fit_s else ", fields from the cache")
        + f", {np.mean([f['discretize_s'] for f in all_folds]):.2f} s per discretization.",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = _parse(argv)
    from omniseg3d_mesh.synthetic.psb import list_psb

    fit_cfg, disc_cfg = _configs(args)
    names = args.meshes or list_psb(args.data)
    if not names:
        raise SystemExit(f"no benchmark meshes in {args.data} (expected N.off with seg/N/)")
    t0 = time.time()
    results = {n: run_mesh(args, n, fit_cfg, disc_cfg) for n in names}
    cmd = "python tools/eval_psb.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(tables(args, results, cmd, time.time() - t0))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
