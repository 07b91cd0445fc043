"""The bad-input / rough-edge list of issue 15 as a table: input, what the user sees, the test.

Prints the markdown table of ``docs/reliability.md``. With ``--check`` it first runs
every listed test (pytest, in one process) and adds a column with the outcome, so the
table can only claim what a test shows.

Usage::

    python tools/reliability_table.py            # the table
    python tools/reliability_table.py --check    # run the tests, table with pass/fail
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

B = "tests/io/test_bad_input.py::"
P = "tests/cli/test_polish.py::"

# (area, input, what the user sees, test node id)
ROWS: list[tuple[str, str, str, str]] = [
    (
        "security",
        "a crafted `checkpoints/fit.pt` whose pickle calls `os.system`",
        "warning `refusing fit checkpoint …: … could run code when loaded (it calls or builds posix.system); nothing in it was run and the fit starts over`; the fit runs from step 0, no command runs",
        "tests/test_checkpoint_security.py::test_crafted_checkpoint_is_refused_and_fit_starts_over",
    ),
    (
        "security",
        "(the crafted file is a real threat)",
        "loading it the old way (`weights_only=False`) does run the command",
        "tests/test_checkpoint_security.py::test_crafted_checkpoint_would_run_code_when_unpickled",
    ),
    (
        "security",
        "what fit writes",
        "tensors, numbers and strings only; loads with `weights_only=True`",
        "tests/test_checkpoint_security.py::test_checkpoint_holds_only_tensors_numbers_and_strings",
    ),
    (
        "masks",
        "mask PNGs saved as 0 / 1",
        "read as masks (any non-zero pixel is inside), same as 0 / 255",
        B + "test_zero_one_mask_pngs_are_read_as_masks",
    ),
    (
        "masks",
        "a truncated, empty or garbage mask `.npz`",
        "`<file>: cannot read the mask stack: the file is truncated or corrupt (…); write it again with np.savez(…)`",
        B + "test_corrupt_mask_npz_names_the_file",
    ),
    (
        "masks",
        "a truncated multi-view mask `.npz`",
        "the same, naming the file",
        B + "test_truncated_multi_view_mask_npz_names_the_file",
    ),
    (
        "masks",
        "an object-dtype mask `.npz`",
        "`<file>: array 'masks' of the mask stack holds Python objects (dtype object), which are never loaded …`",
        B + "test_object_dtype_mask_npz_is_refused_without_unpickling",
    ),
    (
        "masks",
        "masks at another aspect ratio than the camera",
        "`<file>: masks are 10x10 but the camera of v.png is 16x12, which is not a uniform rescale … Fix: make the masks from the images the cameras describe`",
        "tests/io/test_masks.py::test_load_masks_refuses_another_aspect_ratio",
    ),
    (
        "workspace",
        "a truncated `field.npz` / `geometry.npz`",
        "`<file>: cannot read the field file / workspace geometry: the file is truncated or corrupt …; re-run omniseg-mesh fit`",
        B + "test_truncated_workspace_npz_names_the_file",
    ),
    (
        "workspace",
        "an object-dtype `field.npz`",
        "`<file>: array 'features' of the field file holds Python objects …`",
        B + "test_object_dtype_field_is_refused",
    ),
    (
        "field",
        "a field with NaN / inf (written by anything)",
        "`<file>: 1 of 5 vertices have NaN or inf features (first ids [3]); the fit diverged. Fix: re-run omniseg-mesh fit (… lower --lr)` from Field.load, select, discretize, Selector, Discretizer; Field.save refuses to write one",
        B + "test_non_finite_field_is_refused_by_every_reader",
    ),
    (
        "field",
        "a diverging fit (NaN features) over a good workspace",
        "`the fit diverged: 7 of V vertices have NaN or inf features …; the previous field.npz is kept. Fix: lower the learning rate (--lr …)`; field.npz unchanged, scene.json untouched, the diverged checkpoint deleted",
        B + "test_fit_workspace_never_replaces_a_good_field_with_a_non_finite_one",
    ),
    (
        "geometry",
        "an empty / corrupt / truncated `.glb`, an empty / cut / non-glTF `.gltf`",
        "`<file>: the file is empty (0 bytes)` · `not a binary glTF file (expected the magic bytes 'glTF' …)` · `the file is truncated (its header says N bytes …)` · `cannot read this glTF file (…)` · `<file>, line 1, column C: the glTF file is not valid JSON` · `not a glTF file (expected … an 'asset' key …)`, each with the fix",
        B + "test_glb_gltf_empty_corrupt_truncated",
    ),
    (
        "geometry",
        "a PLY header that under-counts faces (ascii and binary)",
        "`<file>: N bytes/values of data follow the last element the header declares (4 vertex, 1 face): the header under-counts an element …`",
        B + "test_ply_header_that_under_counts_faces_is_refused",
    ),
    (
        "geometry",
        "an OBJ face with vertex index 0",
        "`<file>:4: face refers to vertex 0, but OBJ vertex ids start at 1 …; add 1 to every face id` (no internal sentinel)",
        "tests/io/test_geometry.py::test_error_face_index_out_of_range",
    ),
    (
        "geometry",
        "more than 2M vertices (duplicate-face check)",
        "the same count as below 2M, by one vectorised sort of a verified 64-bit hash (about 1 s for 4.2M faces, was a row-wise np.unique)",
        B + "test_duplicate_face_count_is_the_same_above_two_million_vertices",
    ),
    (
        "geometry",
        "a 2.1M-vertex mesh with a duplicate face",
        "`1 duplicate another face` in the warning (the fast path runs)",
        B + "test_info_on_geometry_with_many_vertices_uses_the_vectorised_check",
    ),
    (
        "cameras",
        "a truncated `transforms.json` / `cameras.json`",
        '`<file>, line L, column C: the camera file is not valid JSON: … (the file ends there: truncated?)`, auto-detected or given with --cameras (not "no cameras found")',
        B + "test_truncated_camera_json_shows_the_parse_error",
    ),
    (
        "cameras",
        "nerfstudio `dataparser_transforms.json` as --world-transform",
        "its `scale` and `transform` combined with the transforms.json `applied_transform`: cameras land in the ns-export frame; unknown keys (`not understood: note`) and a bad scale refused",
        B + "test_nerfstudio_dataparser_transforms_scale_and_applied_transform",
    ),
    (
        "cameras",
        "a world-transform JSON with keys it does not understand",
        "`<file>: expected a 4x4 list, an object with one key 'world_transform' … (not understood: rotation)`",
        "tests/io/test_cameras.py::test_error_world_transform_files",
    ),
    (
        "files",
        "output files and folders",
        "modes follow the umask (0644/0755 under umask 022), not 0600/0700",
        "tests/test_workspace_files.py::test_outputs_respect_the_umask",
    ),
    (
        "files",
        "a `.parts.XXXX.tmp` folder left by a killed discretize",
        "removed by the next run that writes that folder (temp names carry host and pid; a live run's folder is kept)",
        "tests/test_workspace_files.py::test_interrupted_write_folder_is_cleaned_up_by_the_next_run",
    ),
    (
        "render",
        "`discretize --out DIR` then `render`",
        "renders the parts in DIR (recorded in the workspace) and says `rendered level 0 of the parts exported to DIR`; `--parts DIR` picks a folder; a level the export lacks is an error with the discretize command",
        P + "test_render_uses_the_parts_discretize_exported_and_says_so",
    ),
    (
        "render",
        "`render` with no export at all",
        "a warning that it runs discretize with default settings, and how to render your own parts",
        P + "test_render_without_exported_parts_warns_that_it_discretizes",
    ),
    (
        "viewer",
        "`view` after `discretize --out DIR`",
        "shows those parts and says from which folder; hierarchy steps numbered 0..n-1 as in `select --step`",
        P + "test_viewer_shows_the_exported_parts",
    ),
    (
        "render",
        "`render --click v:5` / `5` / `x:…` / `w:5`",
        "the click syntax of select (bare id still works); a bad click is a usage error (exit 2)",
        P + "test_render_click_takes_the_select_syntax",
    ),
    (
        "select",
        "`select --step 99`, `select --out x.stl`",
        "`--step 40: this click has 2 step(s), numbered 0..1 (table above)` (exit 2, nothing written); `x.stl must end in .ply, .obj or .glb` before any work (exit 2)",
        "tests/cli/test_select_discretize.py::test_select_cli_step_errors",
    ),
    (
        "presets",
        "`--config paper` / `configs/fast.yaml` outside a source checkout",
        "presets ship in the package (`omniseg3d_mesh/configs/`, package-data checked), found by name; LICENSE and py.typed present",
        P + "test_presets_ship_in_the_package_and_load_by_name",
    ),
    (
        "config",
        "a value out of range or of the wrong type: `--steps -1`, `lr: 1e-2` in a preset (YAML reads it as a string)",
        "`the command line: FitConfig.steps must be >= 0, got -1`, `p.yaml with the command line: FitConfig.lr must be a float, got '1e-2' (str)` (exit 2); in code `FitConfig(lr=-1.0)` raises `FitConfig.lr must be > 0, got -1.0`",
        "tests/test_config.py::test_bad_values_from_a_preset_or_flag_are_usage_errors",
    ),
    (
        "config",
        "an old flat `render: {backend: cpu}` preset (the fragment settings are nested now)",
        "`unknown render field(s) backend (backend belongs under 'fragments:' (fragments: {backend: ...})); known fields: …`",
        "tests/test_config.py::test_old_flat_render_keys_say_where_they_live_now",
    ),
    (
        "CLI",
        "a wrong flag / unknown preset vs. a missing workspace",
        "exit code 2 for usage errors, 1 for run-time failures",
        P + "test_exit_codes_usage_2_runtime_1",
    ),
    (
        "CLI",
        "stderr is a pipe or a log file",
        "plain progress lines (`fit: 120/3000 (4%) loss=0.41 [12s]`) every 10 s and at the end of a stage; log lines unwrapped and unpadded",
        P + "test_progress_and_logs_are_plain_lines_off_a_terminal",
    ),
    (
        "CLI",
        "`--help` of every command",
        "one `(default: …)` per option, placeholders from one set (N, X, DIR, FILE, …)",
        P + "test_help_has_one_default_each_and_one_placeholder_style",
    ),
    (
        "batch",
        "`batch` on Ray",
        "Ray's own logs stay in its log files unless `--ray-logs` or `-v`",
        P + "test_batch_keeps_rays_own_logs_out_unless_asked",
    ),
    (
        "export",
        "`segmented.ply`",
        "an int per-vertex `label` property; `trimesh.load(..., process=False)` keeps the ids",
        P + "test_segmented_ply_has_an_integer_label_per_vertex",
    ),
]


def run_tests(ids: list[str]) -> dict[str, str]:
    """Run the node ids with pytest; node id -> passed / failed / skipped."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", *sorted(set(ids))]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    outcome = {}
    for line in proc.stdout.splitlines():
        for word in ("PASSED", "FAILED", "SKIPPED", "ERROR"):
            if line.startswith(word + " "):
                node = line.split(" ", 1)[1].split(" - ")[0].strip()
                outcome[node] = word.lower()
    return outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="run the listed tests and add their outcome")
    args = ap.parse_args()
    outcome = run_tests([r[3] for r in ROWS]) if args.check else None
    print(f"Generated by `python tools/reliability_table.py{' --check' if args.check else ''}`.\n")
    cols = ["area", "input", "what the user sees", "test"] + (["result"] if outcome is not None else [])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for area, inp, sees, test in ROWS:
        name = test.split("::")[-1]
        cells = [area, inp, sees, f"`{test.split('::')[0]}` `{name}`"]
        if outcome is not None:
            # parametrised tests report one line per case: all must pass
            results = {v for k, v in outcome.items() if k == test or k.startswith(test + "[")}
            cells.append("passed" if results == {"passed"} else ", ".join(sorted(results)) or "not run")
        print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


if __name__ == "__main__":
    main()
