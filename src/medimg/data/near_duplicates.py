"""Nearly identical images: the same picture re-saved as JPEG, resized, stored at another bit depth or as RGB,
slightly cropped, mirrored or turned.

``medimg check`` finds identical pixels by their digest; a copy that went through another export differs in
every pixel and slips past it, which is how a public set's test images end up in its training split. Each 2D image
gets a :class:`Signature`: a 64-bit difference hash (the signs of horizontal steps on a 9 x 8 grey thumbnail) to
find candidates in one pass, and a 24 x 24 thumbnail to confirm them (correlation at least
:data:`SAME_PICTURE_CORRELATION`), so images that only look alike at 8 x 8 (two chest X-rays) are not called
copies. A copy trimmed by a few percent at its borders, mirrored, or turned by a quarter or half turn (an augmented copy
saved beside the data; pathology tiles are saved in all eight orientations) differs from its original's thumbnail
too much for that: each image also gets :data:`VARIANTS` (its mirror images, turns and crops of its borders),
whose hashes are looked up among the other images' and whose thumbnails confirm a match the same way. A copy with a
label or marker burned in (a text box in a corner) is confirmed without the few cells where the two differ most
(:func:`unoccluded_correlation`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medimg.data.disjoint_sets import DisjointSets

#: correlation of two 24 x 24 thumbnails above which they are one picture (a JPEG re-save scores ~0.999, a resized
#: copy ~0.995; two patients' chest X-rays of one projection stay below)
SAME_PICTURE_CORRELATION = 0.99

THUMBNAIL_SIDE = 24

#: a copy with a label, a date or a marker burned in (a text box over a few percent of the picture) differs there
#: only, which can take its correlation with the original down to ~0.5: a pair correlating at least
#: :data:`OCCLUDED_FLOOR` but below :data:`SAME_PICTURE_CORRELATION` is compared again without the
#: :data:`OCCLUDED_SHARE` of thumbnail cells where the two differ most (:func:`unoccluded_correlation`), and is one
#: picture when the rest correlate at least :data:`OCCLUDED_CORRELATION` (such copies, re-saved as JPEG and resized
#: too, score >= 0.9998; different chest X-rays, dermoscopy and Pap smear images at most 0.997)
OCCLUDED_FLOOR = 0.5
OCCLUDED_SHARE = 0.08
OCCLUDED_CORRELATION = 0.999

#: pairs compared at once without their most different cells (bounded memory)
PAIR_BLOCK = 8192

#: a pair is first compared so on 8 x 8 thumbnails (3 x 3 cells of the 24 x 24 averaged: nine times cheaper), without
#: this share of their cells, and goes on to the full comparison when these correlate at least
#: :data:`COARSE_CORRELATION` (burned-in copies score >= 0.9999; about 1 in 3,000 pairs of chest X-rays passes)
COARSE_SHARE = 0.15
COARSE_CORRELATION = 0.99
COARSE = 3

#: a step between neighbouring cells of the hash's thumbnail smaller than this (of the image's range) counts as
#: flat, so JPEG noise on an even background (a radiograph's black border) does not flip the hash's bits
STEP_DEAD_ZONE = 1 / 64


@dataclass(frozen=True)
class Signature:
    """What :func:`near_duplicate_groups` compares: ``dhash`` (64 bits) and ``thumbnail`` (uint8, zero-mean
    comparisons are made from it)."""

    dhash: int
    thumbnail: np.ndarray
    #: ``(dhash, thumbnail)`` of the picture mirrored, turned and cropped (:data:`VARIANTS`): a copy so made matches one
    variants: tuple[tuple[int, np.ndarray], ...] = ()


#: the picture's variants a copy may be (left, top, right, bottom of the region kept, as fractions of the width and
#: height, and the orientation it is given: a PIL ``Image.Transpose`` name, or ``None``): the seven other orientations
#: of the dihedral group (mirrored left-right or top-bottom, turned by 90, 180 or 270 degrees, mirrored about either
#: diagonal), its borders trimmed by 5% or 10% all round, and by 5% at two sides meeting at a corner (a copy cropped
#: by 2-8% at any sides still correlates above the threshold with the nearest of these)
VARIANTS: tuple[tuple[float, float, float, float, str | None], ...] = (
    *(
        (0.0, 0.0, 1.0, 1.0, turn)
        for turn in (
            "FLIP_LEFT_RIGHT",
            "FLIP_TOP_BOTTOM",
            "ROTATE_90",
            "ROTATE_180",
            "ROTATE_270",
            "TRANSPOSE",
            "TRANSVERSE",
        )
    ),
    (0.05, 0.05, 0.95, 0.95, None),
    (0.1, 0.1, 0.9, 0.9, None),
    (0.05, 0.05, 1.0, 1.0, None),
    (0.0, 0.05, 0.95, 1.0, None),
    (0.05, 0.0, 1.0, 0.95, None),
    (0.0, 0.0, 0.95, 0.95, None),
)


#: the variants are cut from the picture reduced to at most this many pixels a side
VARIANT_SIDE = 96


def _hash_and_thumbnail(picture: Any, box: tuple[float, float, float, float] | None = None) -> tuple[int, np.ndarray]:
    """The difference hash and the uint8 thumbnail of a PIL ``F`` picture (values 0..1), or of its region ``box``."""
    from PIL import Image

    small = np.asarray(picture.resize((9, 8), Image.Resampling.BOX, box=box), dtype=np.float32)
    bits = (small[:, 1:] > small[:, :-1] + STEP_DEAD_ZONE).reshape(-1)
    dhash = int(sum(1 << i for i, bit in enumerate(bits) if bit))
    side = (THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    thumb = np.asarray(picture.resize(side, Image.Resampling.BOX, box=box), dtype=np.float32)
    return dhash, np.round(thumb * 255).astype(np.uint8)


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
    dhash, thumbnail = _hash_and_thumbnail(picture)
    height, width = min(grey.shape[0], VARIANT_SIDE), min(grey.shape[1], VARIANT_SIDE)
    reduced = picture.resize((width, height), Image.Resampling.BOX)  # crops of a large image cost as a small one's
    variants = []
    for left, top, right, bottom, turn in VARIANTS:
        source = reduced if turn is None else reduced.transpose(Image.Transpose[turn])
        side, across = source.size
        variants.append(_hash_and_thumbnail(source, (left * side, top * across, right * side, bottom * across)))
    return Signature(dhash=dhash, thumbnail=thumbnail, variants=tuple(variants))


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


def _band(dhash: int, band: int) -> int:
    """Band ``band`` of a difference hash (:data:`BANDS` bands of equal width)."""
    width = 64 // BANDS
    return (dhash >> (band * width)) & ((1 << width) - 1)


def _band_tables(ids: Sequence[str], signatures: Mapping[str, Signature]) -> list[dict[int, list[int]]]:
    """For each band, its value -> the indices (in ``ids``) of the images whose hash has it."""
    tables: list[dict[int, list[int]]] = []
    for band in range(BANDS):
        table: dict[int, list[int]] = defaultdict(list)
        for i, case_id in enumerate(ids):
            table[_band(signatures[case_id].dhash, band)].append(i)
        tables.append(table)
    return tables


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
    tables = _band_tables(ids, signatures)
    occluded: list[np.ndarray] = []  # candidate pairs (i * len(ids) + j, i < j) alike but for a region: text burned in?
    for buckets in tables:
        for members in _bounded(buckets.values(), ids, signatures):
            index = np.asarray(members)
            for start in range(0, len(index), BLOCK):  # a block of rows against the bucket: bounded memory
                block = rows[index[start : start + BLOCK]] @ rows[index].T
                for a, b in np.argwhere(block >= SAME_PICTURE_CORRELATION):
                    if start + a < b:
                        pictures.join(int(index[start + a]), int(index[b]))
                a, b = np.nonzero((block >= OCCLUDED_FLOOR) & (block < SAME_PICTURE_CORRELATION))
                later = start + a < b
                occluded.append(index[start + a[later]] * len(ids) + index[b[later]])
    pairs = np.unique(np.concatenate(occluded)) if occluded else np.zeros(0, dtype=np.int64)
    _join_occluded(np.stack([pairs // len(ids), pairs % len(ids)], axis=1), rows, pictures)
    _join_variants(ids, signatures, rows, pictures, tables)
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


def unoccluded_correlation(
    first: np.ndarray, second: np.ndarray, share: float = OCCLUDED_SHARE, rounds: int = 3
) -> np.ndarray:
    """Row by row, the correlation of two ``(P, N)`` arrays of thumbnails without the ``share`` of their cells where
    they differ most: the rows' linear fit is made, the cells furthest from it dropped, and the fit redone on the rest
    (``rounds`` fits in all), so a text box burned into one copy does not hide that the rest is the same picture."""
    a, b = first.astype(np.float32), second.astype(np.float32)
    cells = a.shape[1]
    kept = cells - max(1, round(share * cells))
    x, y = a, b
    for _ in range(rounds):
        dx, dy = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
        slope = (dx * dy).sum(axis=1, keepdims=True) / np.maximum((dx * dx).sum(axis=1, keepdims=True), 1e-12)
        off = np.abs((b - y.mean(axis=1, keepdims=True)) - slope * (a - x.mean(axis=1, keepdims=True)))
        keep = np.argpartition(off, kept - 1, axis=1)[:, :kept]
        x, y = np.take_along_axis(a, keep, axis=1), np.take_along_axis(b, keep, axis=1)
    dx, dy = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(dx, axis=1) * np.linalg.norm(dy, axis=1)
    return np.asarray((dx * dy).sum(axis=1) / np.maximum(norms, 1e-12))


def _join_occluded(pairs: np.ndarray, rows: np.ndarray, pictures: DisjointSets[int]) -> None:
    """Join the candidate pairs (``(P, 2)`` indices of ``rows``) that are one picture but for a region
    (:data:`OCCLUDED_FLOOR`): first on coarse thumbnails (:data:`COARSE_CORRELATION`), then on the whole ones."""
    if not len(pairs):
        return
    side, cell = THUMBNAIL_SIDE // COARSE, COARSE
    coarse = rows.reshape(len(rows), side, cell, side, cell).mean(axis=(2, 4)).reshape(len(rows), -1)
    for start in range(0, len(pairs), PAIR_BLOCK):
        chunk = pairs[start : start + PAIR_BLOCK]
        alike = unoccluded_correlation(coarse[chunk[:, 0]], coarse[chunk[:, 1]], COARSE_SHARE, rounds=2)
        chunk = chunk[alike >= COARSE_CORRELATION]
        if not len(chunk):
            continue
        same = unoccluded_correlation(rows[chunk[:, 0]], rows[chunk[:, 1]]) >= OCCLUDED_CORRELATION
        for i, j in chunk[same]:
            pictures.join(int(i), int(j))


def _join_variants(
    ids: Sequence[str],
    signatures: Mapping[str, Signature],
    rows: np.ndarray,
    pictures: DisjointSets[int],
    tables: Sequence[Mapping[int, list[int]]],
) -> None:
    """Join the images one of whose variants (mirrored, turned, cropped) is another image: a variant's hash bands are
    looked up among the images' own, and a candidate joins when the variant's thumbnail correlates with the
    image's at least :data:`SAME_PICTURE_CORRELATION` (``tables``: :func:`_band_tables` of the images)."""
    for i, case_id in enumerate(ids):
        variants = signatures[case_id].variants
        if not variants:
            continue
        candidates: set[int] = set()
        for dhash, _ in variants:
            for band, table in enumerate(tables):
                members = table.get(_band(dhash, band), ())
                if len(members) > MAX_BUCKET:  # a crowded band (flat images): only the whole hash
                    members = [j for j in members if signatures[ids[j]].dhash == dhash]
                candidates.update(members)
        root = pictures.root(i)
        others = np.asarray(sorted(j for j in candidates if j != i and pictures.root(j) != root), dtype=np.int64)
        if others.size == 0:
            continue
        scores = _unit_rows([thumbnail for _, thumbnail in variants]) @ rows[others].T
        for j in others[(scores >= SAME_PICTURE_CORRELATION).any(axis=0)]:
            pictures.join(i, int(j))
