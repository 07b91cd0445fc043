"""Mask files: segment-anything's amg folder and COCO-RLE json, npz, matching views to cameras."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from omniseg3d_mesh.io.masks import (
    SAM_METADATA_HEADER,
    find_mask_entries,
    load_coco_rle_json,
    load_masks,
    load_masks_npz,
    load_sam_folder,
    mask_key,
    resize_masks,
    save_coco_rle_json,
    save_masks_npz,
    save_sam_folder,
)
from omniseg3d_mesh.scene import Camera


def _masks(m=4, h=12, w=16, seed=0):
    rng = np.random.default_rng(seed)
    out = np.zeros((m, h, w), bool)
    for i in range(m):
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        out[i, y0 : y0 + rng.integers(2, h // 2), x0 : x0 + rng.integers(2, w // 2)] = True
    out[0, -1, -1] = True  # a mask touching the last pixel (RLE ends on a run of 1s)
    return out


def _cams(names, w=16, h=12):
    return [Camera.look_at((0, -3, 1), (0, 0, 0), width=w, height=h, fov_y_deg=50, name=n) for n in names]


# --------------------------------------------------------------------------- round trips
def test_sam_folder_round_trip_matches_amg_layout(tmp_path):
    masks = _masks()
    folder = save_sam_folder(tmp_path / "view_000", masks)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["0.png", "1.png", "2.png", "3.png", "metadata.csv"]
    from PIL import Image

    png = np.asarray(Image.open(folder / "1.png"))
    assert png.dtype == np.uint8 and png.ndim == 2 and set(np.unique(png)) <= {0, 255}
    lines = (folder / "metadata.csv").read_text().split("\n")
    assert lines[0] == SAM_METADATA_HEADER and len(lines) == 5
    row = lines[1].split(",")
    assert row[0] == "0" and int(row[1]) == masks[0].sum()
    back, records = load_sam_folder(folder, with_records=True)
    assert back.dtype == bool and np.array_equal(back, masks)
    ys, xs = np.nonzero(masks[2])
    # SAM's XYWH box convention: w = x_max - x_min
    assert records[2]["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
    assert records[2]["crop_box"] == [0, 0, 16, 12]


def test_sam_folder_keeps_given_records(tmp_path):
    masks = _masks(2)
    recs = [
        {
            "area": int(m.sum()),
            "bbox": [1.0, 2.0, 3.0, 4.0],
            "point_coords": [[5.5, 6.25]],
            "predicted_iou": 0.91,
            "stability_score": 0.97,
            "crop_box": [0, 0, 16, 12],
        }
        for m in masks
    ]
    save_sam_folder(tmp_path / "a", masks, recs)
    _, back = load_sam_folder(tmp_path / "a", with_records=True)
    assert (
        back[1]["point_coords"] == [[5.5, 6.25]]
        and back[1]["predicted_iou"] == 0.91
        and back[0]["bbox"] == [1, 2, 3, 4]
    )
    with pytest.raises(ValueError, match="2 masks but 1 records"):
        save_sam_folder(tmp_path / "b", masks, recs[:1])


def test_sam_folder_reads_amg_output_without_metadata_and_rgb_pngs(tmp_path):
    from PIL import Image

    masks = _masks(3)
    folder = tmp_path / "img"
    folder.mkdir()
    for i, m in enumerate(masks):
        Image.fromarray(np.repeat((m * 255).astype(np.uint8)[..., None], 3, axis=2)).save(folder / f"{i}.png")
    (folder / "0matting.png").write_bytes(b"not read")  # amg.py --matting extras are ignored
    assert np.array_equal(load_sam_folder(folder), masks)


def test_empty_stacks_round_trip(tmp_path):
    empty = np.zeros((0, 12, 16), bool)
    save_sam_folder(tmp_path / "e", empty)
    assert (tmp_path / "e" / "metadata.csv").read_text() == SAM_METADATA_HEADER
    assert load_sam_folder(tmp_path / "e", size=(12, 16)).shape == (0, 12, 16)
    save_coco_rle_json(tmp_path / "e.json", empty)
    assert load_coco_rle_json(tmp_path / "e.json", size=(12, 16)).shape == (0, 12, 16)
    save_masks_npz(tmp_path / "e.npz", empty)
    assert load_masks_npz(tmp_path / "e.npz").shape == (0, 12, 16)
    d = tmp_path / "only"
    save_sam_folder(d / "e", empty)
    assert load_masks(d, _cams(["e.png"]))["e.png"].shape == (0, 12, 16)


def test_coco_rle_json_round_trip_matches_pycocotools(tmp_path):
    masks = _masks(5, 13, 17, seed=3)
    path = save_coco_rle_json(tmp_path / "view.json", masks)
    anns = json.loads(path.read_text())
    assert len(anns) == 5
    assert set(anns[0]) == {
        "segmentation",
        "area",
        "bbox",
        "predicted_iou",
        "point_coords",
        "stability_score",
        "crop_box",
    }
    assert anns[0]["segmentation"]["size"] == [13, 17] and isinstance(anns[0]["segmentation"]["counts"], str)
    mask_utils = pytest.importorskip("pycocotools.mask")
    for ann, m in zip(anns, masks):
        assert np.array_equal(mask_utils.decode(ann["segmentation"]).astype(bool), m)
        assert ann["area"] == int(m.sum())
    back, recs = load_coco_rle_json(path, with_records=True)
    assert np.array_equal(back, masks) and "segmentation" not in recs[0]


def test_coco_rle_json_reads_pycocotools_written_file(tmp_path):
    mask_utils = pytest.importorskip("pycocotools.mask")
    masks = _masks(3, 20, 9, seed=5)
    anns = []
    for m in masks:
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("utf-8")
        anns.append(
            {
                "segmentation": rle,
                "area": int(m.sum()),
                "bbox": [0, 0, 1, 1],
                "predicted_iou": 0.9,
                "point_coords": [[1.0, 2.0]],
                "stability_score": 0.96,
                "crop_box": [0, 0, 9, 20],
            }
        )
    (tmp_path / "x.json").write_text(json.dumps({"annotations": anns}))
    assert np.array_equal(load_coco_rle_json(tmp_path / "x.json"), masks)


def test_npz_round_trip(tmp_path):
    masks = _masks(3)
    save_masks_npz(tmp_path / "v.npz", masks)
    assert np.array_equal(load_masks_npz(tmp_path / "v.npz"), masks)
    np.savez(tmp_path / "u8.npz", masks=masks.astype(np.uint8) * 255)
    assert np.array_equal(load_masks_npz(tmp_path / "u8.npz"), masks)


# --------------------------------------------------------------------------- bad files
def test_bad_files_give_clear_errors(tmp_path):
    np.savez(tmp_path / "k.npz", other=np.zeros((1, 2, 2), bool))
    with pytest.raises(ValueError, match=r"expected an array named 'masks'.*found keys \['other'\]"):
        load_masks_npz(tmp_path / "k.npz")
    np.savez(tmp_path / "s.npz", masks=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match=r"expected a mask stack \[M, H, W\], got shape \(2, 2\)"):
        load_masks_npz(tmp_path / "s.npz")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_coco_rle_json(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text(json.dumps([{"area": 3}]))
    with pytest.raises(ValueError, match="expected a list of annotations with a 'segmentation' RLE"):
        load_coco_rle_json(tmp_path / "list.json")
    (tmp_path / "rle.json").write_text(json.dumps([{"segmentation": {"size": [2, 2], "counts": [1, 1]}}]))
    with pytest.raises(ValueError, match="annotation 0: RLE counts sum to 2"):
        load_coco_rle_json(tmp_path / "rle.json")
    with pytest.raises(FileNotFoundError, match="mask file .*missing.json not found"):
        load_coco_rle_json(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="mask file .*missing.npz not found"):
        load_masks_npz(tmp_path / "missing.npz")


def test_bad_sam_folders(tmp_path):
    save_sam_folder(tmp_path / "a", _masks(2))
    (tmp_path / "a" / "1.png").unlink()
    with pytest.raises(ValueError, match=r"lists 1 mask\(s\) whose PNG is missing.*1.png"):
        load_sam_folder(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metadata.csv").write_text("a,b\n1,2")
    with pytest.raises(ValueError, match="not a segment-anything metadata.csv"):
        load_sam_folder(tmp_path / "b")
    (tmp_path / "b" / "metadata.csv").write_text(SAM_METADATA_HEADER + "\n0,1,2")
    with pytest.raises(ValueError, match="line 2: expected 14 values, found 3"):
        load_sam_folder(tmp_path / "b")
    (tmp_path / "b" / "metadata.csv").write_text(SAM_METADATA_HEADER + "\n" + ",".join(["x"] * 14))
    with pytest.raises(ValueError, match="line 2: expected numbers"):
        load_sam_folder(tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(ValueError, match="no metadata.csv and no <n>.png masks"):
        load_sam_folder(tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="mask folder .*nowhere not found"):
        load_sam_folder(tmp_path / "nowhere")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "0.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"cannot read mask image .*0.png"):
        load_sam_folder(tmp_path / "d")
    from PIL import Image

    (tmp_path / "e").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "e" / "0.png")
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(tmp_path / "e" / "1.png")
    with pytest.raises(ValueError, match="masks have different sizes"):
        load_sam_folder(tmp_path / "e")


def test_interrupted_write_leaves_no_folder(tmp_path):
    class Boom:
        def __len__(self):
            return 3

        def __getitem__(self, i):
            if i == 2:
                raise RuntimeError("killed")
            return np.ones((4, 4), bool)

    with pytest.raises(RuntimeError):
        save_sam_folder(tmp_path / "v", Boom())
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- load_masks
def test_load_masks_mixed_forms_matched_by_stem(tmp_path):
    a, b, c = _masks(2, seed=1), _masks(3, seed=2), _masks(1, seed=3)
    save_sam_folder(tmp_path / "view_000", a)
    save_coco_rle_json(tmp_path / "view_001.json", b)
    save_masks_npz(tmp_path / "view_002.npz", c)
    (tmp_path / ".view_003.x.tmp").mkdir()  # an interrupted write: ignored
    (tmp_path / "notes.txt").write_text("ignored")
    out = load_masks(tmp_path, _cams(["view_000.png", "view_001.jpg", "view_002.png"]))
    assert list(out) == ["view_000.png", "view_001.jpg", "view_002.png"]
    assert np.array_equal(out["view_000.png"], a) and np.array_equal(out["view_001.jpg"], b)
    assert np.array_equal(out["view_002.png"], c)


def test_load_masks_subfolder_names_and_multi_view_npz(tmp_path):
    a, b = _masks(2, seed=1), _masks(3, seed=2)
    assert mask_key("sub/x.png") == "sub__x" and mask_key("view_1.JPG") == "view_1"
    save_masks_npz(tmp_path / "sub__x.npz", a)
    save_masks_npz(tmp_path / "y.npz", b)  # amg.py names by base name only
    out = load_masks(tmp_path, _cams(["sub/x.png", "other/y.png"]))
    assert np.array_equal(out["sub/x.png"], a) and np.array_equal(out["other/y.png"], b)
    np.savez(tmp_path / "all.npz", view_0=a, view_1=b)
    out = load_masks(tmp_path / "all.npz", _cams(["view_0.png", "view_1.png"]))
    assert np.array_equal(out["view_1.png"], b)


def test_lazy_masks_are_the_same_masks_read_on_access(tmp_path, monkeypatch):
    from omniseg3d_mesh.io import masks as masks_module
    from omniseg3d_mesh.io.masks import MaskViews, masks_hash

    a, b, c = _masks(2, seed=1), _masks(3, seed=2), _masks(1, h=6, w=8, seed=3)
    save_sam_folder(tmp_path / "view_000", a)
    save_coco_rle_json(tmp_path / "view_001.json", b)
    save_masks_npz(tmp_path / "view_002.npz", c)  # half resolution: resized on access
    cams = _cams(["view_000.png", "view_001.jpg", "view_002.png"])
    eager = load_masks(tmp_path, cams)
    reads = []
    original = masks_module.load_sam_folder
    monkeypatch.setattr(masks_module, "load_sam_folder", lambda *a, **k: reads.append(a) or original(*a, **k))
    lazy = load_masks(tmp_path, cams, lazy=True)
    assert isinstance(lazy, MaskViews) and reads == []  # nothing read up front
    assert list(lazy) == list(eager) and len(lazy) == 3 and "view_001.jpg" in lazy and "nope.png" not in lazy
    for name in eager:
        np.testing.assert_array_equal(lazy[name], eager[name])
        assert lazy.content_hash(name) == masks_hash(eager[name])
    assert lazy["view_002.png"].shape == (1, 12, 16)
    assert lazy.path("view_001.jpg") == tmp_path / "view_001.json"
    n = len(reads)
    lazy.content_hash("view_000.png")  # remembered from the read above: no second read
    assert len(reads) == n == 1
    fresh = load_masks(tmp_path, cams, lazy=True)
    assert fresh.content_hash("view_000.png") == masks_hash(a) and len(reads) == 2  # read when not known yet


def test_lazy_masks_report_a_broken_entry_on_access(tmp_path):
    save_masks_npz(tmp_path / "v.npz", _masks(2))
    lazy = load_masks(tmp_path, _cams(["v.png"]), lazy=True)
    (tmp_path / "v.npz").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"cannot read the masks of view 'v.png' from .*v\.npz"):
        lazy["v.png"]


def test_load_masks_resizes_to_camera_nearest(tmp_path):
    small = np.zeros((1, 6, 8), bool)
    small[0, 1:3, 2:6] = True
    save_sam_folder(tmp_path / "v", small)
    out = load_masks(tmp_path, _cams(["v.png"], w=16, h=12))["v.png"]
    assert out.shape == (1, 12, 16)
    expected = np.zeros((12, 16), bool)
    expected[2:6, 4:12] = True
    assert np.array_equal(out[0], expected)
    # and back down: nearest sampling of pixel centres
    assert np.array_equal(resize_masks(out, 6, 8), small)


def test_load_masks_refuses_another_aspect_ratio(tmp_path):
    """Like images (io.cameras.match_images): a uniform rescale is fine, another aspect ratio is not."""
    save_masks_npz(tmp_path / "v.npz", np.ones((1, 10, 10), bool))
    with pytest.raises(
        ValueError,
        match=r"v\.npz: masks are 10x10 but the camera of v\.png is 16x12, which is not a "
        r"uniform rescale .*Fix: make the masks from the images the cameras describe",
    ):
        load_masks(tmp_path, _cams(["v.png"], w=16, h=12))
    save_masks_npz(tmp_path / "v.npz", np.ones((1, 6, 8), bool))  # half size: resized
    assert load_masks(tmp_path, _cams(["v.png"], w=16, h=12))["v.png"].shape == (1, 12, 16)


def test_load_masks_missing_and_extra_views(tmp_path, caplog):
    save_masks_npz(tmp_path / "view_000.npz", _masks(2))
    save_masks_npz(tmp_path / "stray.npz", _masks(1))
    cams = _cams(["view_000.png", "view_001.png", "view_002.png"])
    with pytest.raises(
        ValueError,
        match=r"2 of 3 camera\(s\) have no masks: view_001.png, view_002.png; "
        r"1 mask set\(s\) match no camera: stray.*--allow-missing-masks",
    ):
        load_masks(tmp_path, cams)
    with caplog.at_level(logging.WARNING, logger="omniseg3d_mesh.io.masks"):
        out = load_masks(tmp_path, cams, allow_missing=True)
    assert list(out) == ["view_000.png"]
    assert "skipping 2 view(s) without masks" in caplog.text and "ignoring 1 mask set(s)" in caplog.text
    (tmp_path / "stray.npz").unlink()
    with pytest.raises(ValueError, match=r"2 of 3 camera\(s\) have no masks.*omniseg-mesh masks"):
        load_masks(tmp_path, cams)
    with pytest.raises(ValueError, match=r"none of the 1 camera\(s\) has masks"):
        load_masks(tmp_path, _cams(["zzz.png"]), allow_missing=True)


def test_load_masks_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="masks .*nope not found; expected a folder"):
        load_masks(tmp_path / "nope", _cams(["a.png"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no masks found in .*empty.*omniseg-mesh masks"):
        load_masks(tmp_path / "empty", _cams(["a.png"]))
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(ValueError, match="a single masks file must be an .npz"):
        load_masks(tmp_path / "x.json", _cams(["a.png"]))
    d = tmp_path / "dup"
    save_masks_npz(d / "a.npz", _masks(1))
    save_coco_rle_json(d / "a.json", _masks(1))
    with pytest.raises(ValueError, match="masks for 'a' found twice in .*a.json and a.npz"):
        find_mask_entries(d)
    d2 = tmp_path / "d2"
    save_masks_npz(d2 / "a.npz", _masks(1))
    with pytest.raises(ValueError, match="several cameras share the image stem"):
        load_masks(d2, _cams(["a.png", "a.jpg"]))
