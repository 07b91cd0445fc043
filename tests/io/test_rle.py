"""COCO run-length encoding: round trip and agreement with pycocotools."""

import json

import numpy as np
import pytest

from omniseg3d_mesh.io.rle import decode_rle, encode_rle, rle_area


@pytest.mark.parametrize("compressed", [True, False])
def test_rle_roundtrip(compressed):
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (5, 7), (40, 33)]:
        m = rng.random(shape) > 0.6
        r = encode_rle(m, compressed=compressed)
        json.dumps(r)
        assert np.array_equal(decode_rle(r), m)
        assert rle_area(r) == m.sum()
    full = np.ones((3, 4), bool)
    assert np.array_equal(decode_rle(encode_rle(full)), full)


def test_rle_matches_pycocotools():
    mask_utils = pytest.importorskip("pycocotools.mask")
    m = np.random.default_rng(3).random((30, 20)) > 0.5
    theirs = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    assert encode_rle(m)["counts"] == theirs["counts"].decode()
    with pytest.raises(ValueError, match="counts sum to"):
        decode_rle({"size": [2, 2], "counts": [1, 1]})
