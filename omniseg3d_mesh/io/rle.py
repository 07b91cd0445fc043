"""COCO run-length encoding of binary masks (the format segment-anything's
``coco_rle`` output and COCO instance files use), written from the format's
definition: runs alternate 0s and 1s starting with 0s, over the mask in
column-major (Fortran) order; the compressed string form stores each run as a
delta against the run two before it (for runs after the second), in 5-bit groups
with a continuation bit, each group offset by 48 into printable ASCII.
"""

from __future__ import annotations

import numpy as np

__all__ = ["encode_rle", "decode_rle", "rle_area"]


def _runs(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return [int(r) for r in runs]


def _counts_to_string(counts: list[int]) -> str:
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def _string_to_counts(s: str) -> list[int]:
    counts: list[int] = []
    pos = 0
    while pos < len(s):
        x, k, more = 0, 0, True
        while more:
            ch = ord(s[pos]) - 48
            x |= (ch & 0x1F) << (5 * k)
            more = bool(ch & 0x20)
            pos += 1
            k += 1
            if not more and (ch & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_rle(mask: np.ndarray, compressed: bool = True) -> dict:
    """COCO RLE of a [H, W] bool mask: ``{"size": [H, W], "counts": str | list[int]}``."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"RLE encodes one [H, W] mask, got shape {mask.shape}")
    counts = _runs(mask)
    return {
        "size": [int(mask.shape[0]), int(mask.shape[1])],
        "counts": _counts_to_string(counts) if compressed else counts,
    }


def decode_rle(rle: dict) -> np.ndarray:
    """[H, W] bool mask from a COCO RLE (compressed string or list of counts)."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a COCO RLE (expected {{'size': [H, W], 'counts': ...}}), got {str(rle)[:80]}") from exc
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if isinstance(counts, str):
        counts = _string_to_counts(counts)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != h * w:
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, expected H*W = {h * w}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((h, w), order="F")


def rle_area(rle: dict) -> int:
    """Number of foreground pixels of a COCO RLE."""
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = _string_to_counts(counts.decode() if isinstance(counts, bytes) else counts)
    return int(sum(counts[1::2]))
