"""Nearly identical images: the same picture re-saved as JPEG, resized, stored at another bit depth or as RGB.

``medimg check`` finds identical pixels by their digest; a copy that went through another export differs in
every pixel and slips past it, which is how a public set's test images end up in its training split. Each 2D image
gets a :class:`Signature`: a 64-bit difference hash (the signs of horizontal steps on a 9 x 8 grey thumbnail) to
find candidates in one pass, and a 24 x 24 thumbnail to confirm them (correlation at least
:data:`SAME_PICTURE_CORRELATION`), so images that only look alike at 8 x 8 (two chest X-rays) are not called copies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from medimg.data.disjoint_sets import DisjointSets

#: correlation of two 24 x 24 thumbnails above which they are one picture (a JPEG re-save scores ~0.999, a resized
#: copy ~0.995; two patients' chest X-rays of one projection stay below)
SAME_PICTURE_CORRELATION = 0.99

THUMBNAIL_SIDE = 24

#: a step between neighbouring cells of the hash's thumbnail smaller than this (of the image's range) counts as
#: flat, so JPEG noise on an even background (a radiograph's black border) does not flip the hash's bits
STEP_DEAD_ZONE = 1 / 64


@dataclass(frozen=True)
class Signature:
    """What :func:`near_duplicate_groups` compares: ``dhash`` (64 bits) and ``thumbnail`` (uint8, zero-mean
    comparisons are made from it)."""

    dhash: int
    thumbnail: np.ndarray


def signature(array: np.ndarray) -> Signature | None:
    """The signature of a 2D image ``(C, H, W)`` (channels averaged, any value range); ``None`` for volumes and
    for images without contrast."""
    from PIL import Image

    if array.ndim != 3 or min(array.shape[1:]) < 2:
        return None
    grey = np.nan_to_num(array.astype(np.float32).mean(axis=0))
    low, high = float(grey.min()), float(grey.max())
    if high <= low:
        return None
    picture = Image.fromarray((grey - low) / (high - low), mode="F")
    small = np.asarray(picture.resize((9, 8), Image.Resampling.BOX), dtype=np.float32)
    bits = (small[:, 1:] > small[:, :-1] + STEP_DEAD_ZONE).reshape(-1)
    dhash = int(sum(1 << i for i, bit in enumerate(bits) if bit))
    thumb = np.asarray(picture.resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BOX), dtype=np.float32)
    return Signature(dhash=dhash, thumbnail=np.round(thumb * 255).astype(np.uint8))


#: the hash is cut into this many bands; images sharing any band are compared (a resized copy may differ from its
#: original in a bit or two, rarely in every band)
BANDS = 4


#: a band bucket larger than this (many flat images share a band of zeros) is split by the whole hash, so the
#: comparisons stay near linear in the number of images
MAX_BUCKET = 4096

#: rows compared at once
BLOCK = 1024


def _bounded(
    buckets: Iterable[list[int]], ids: Sequence[str], signatures: Mapping[str, Signature]
) -> Iterable[list[int]]:
    """The buckets of two or more images, an oversized one split by the whole hash."""
    for members in buckets:
        if len(members) > MAX_BUCKET:
            by_hash: dict[int, list[int]] = defaultdict(list)
            for i in members:
                by_hash[signatures[ids[i]].dhash].append(i)
            yield from (m for m in by_hash.values() if len(m) > 1)
        elif len(members) > 1:
            yield members


def _unit_rows(thumbnails: list[np.ndarray]) -> np.ndarray:
    """Thumbnails as zero-mean, unit-length rows: their dot products are correlations."""
    rows = np.stack([t.reshape(-1) for t in thumbnails]).astype(np.float32)
    rows -= rows.mean(axis=1, keepdims=True)
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-6)
    return rows


def near_duplicate_groups(
    signatures: Mapping[str, Signature], identical: Iterable[Sequence[str]] = ()
) -> list[list[str]]:
    """Groups of case ids whose images are one picture but not identical pixels: candidates share a band of their
    difference hash, and a pair joins when its thumbnails correlate at least :data:`SAME_PICTURE_CORRELATION`; a
    group all of whose members are identical copies of one another (``identical``, found by digest) is left out."""
    ids = list(signatures)
    if len(ids) < 2:
        return []
    rows = _unit_rows([signatures[c].thumbnail for c in ids])
    pictures = DisjointSets(range(len(ids)))
    width = 64 // BANDS
    for band in range(BANDS):
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, case_id in enumerate(ids):
            buckets[(signatures[case_id].dhash >> (band * width)) & ((1 << width) - 1)].append(i)
        for members in _bounded(buckets.values(), ids, signatures):
            index = np.asarray(members)
            for start in range(0, len(index), BLOCK):  # a block of rows against the bucket: bounded memory
                block = rows[index[start : start + BLOCK]] @ rows[index].T
                for a, b in np.argwhere(block >= SAME_PICTURE_CORRELATION):
                    if start + a < b:
                        pictures.join(int(index[start + a]), int(index[b]))
    same_pixels: dict[str, int] = {}
    for number, group in enumerate(identical):
        same_pixels.update(dict.fromkeys(group, number))
    members_of: dict[int, list[str]] = defaultdict(list)
    for i, case_id in enumerate(ids):
        members_of[pictures.root(i)].append(case_id)
    return [
        group
        for group in members_of.values()
        if len(group) > 1 and len({same_pixels.get(c, f"own:{c}") for c in group}) > 1
    ]
