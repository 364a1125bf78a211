"""The names of a segmentation's classes: what the data calls each mask value (its layout's structure names or a
``dataset.json`` beside it) and the class names a label encoding gets from them (``background, class_1..`` where the
data names none)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from medimg.errors import DatasetError
from medimg.tasks.segment.data import SegmentationDataset
from medimg.tasks.segment.labels import SPARSE_MARK, LabelEncoding, unused_classes

logger = logging.getLogger(__name__)


def value_names_of(dataset: SegmentationDataset) -> dict[int, str]:
    """``{mask value: class name}`` the data gives: its layout's (structure files, COCO categories), else a
    ``dataset.json`` beside it; empty when it names none.

    Raises:
        DatasetError: the ``dataset.json`` declares nnU-Net v2 regions (a name for several values), which medimg
            cannot train: naming them and how to name the values instead.
    """
    from medimg.data.layouts.dataset_json import read_dataset_json

    if dataset.value_names:
        return dataset.value_names
    found = read_dataset_json(dataset.root)
    if found is None:
        return {}
    if found.regions:
        raise DatasetError(regions_message(found.path, found.labels, found.regions))
    return dict(found.labels)


def regions_message(path: Path, labels: Mapping[int, str], regions: Mapping[str, Sequence[int]]) -> str:
    """Why a ``dataset.json`` with nnU-Net v2 regions is refused, and the ``labels`` that would name each value."""
    values = sorted({int(v) for v in labels} | {int(v) for members in regions.values() for v in members})
    listing = "; ".join(f"{name!r}: {list(members)}" for name, members in regions.items())
    example = ", ".join(f'"{labels.get(v) or f"<name of {v}>"}": {v}' for v in values)
    return (
        f"{path} declares nnU-Net regions ({listing}): overlapping classes, a voxel in several at once. medimg trains "
        "one class per mask value and cannot train regions, and it will not drop them silently. To train the mask "
        f"values {', '.join(map(str, values))} as classes, name each value once in its labels ({{{example}}}) and "
        "remove the region entries and regions_class_order (keep a copy for nnU-Net); region scores (BraTS's whole "
        "tumour, tumour core) are then not computed, each value is scored on its own"
    )


def class_names_for(encoding: LabelEncoding, value_names: Mapping[int, str] | None = None) -> list[str]:
    """Colour-table names; else the names the data's ``dataset.json`` gives each class's raw value (``value_names``,
    MSD's ``{"0": "background", ...}`` or nnU-Net's ``{"background": 0, ...}``) when it names every class once
    (the empty classes between non-contiguous values, :func:`~.labels.unused_classes`, may go unnamed: ``class_2``;
    a warning says when the names are not used);
    else ``background/foreground`` for binary masks, ``background, class_1..`` otherwise."""
    if encoding.colour_table is not None:
        return list(encoding.colour_table.class_names)
    raw_values: list[float] = []
    if encoding.kind == "identity":
        raw_values = list(range(encoding.num_classes))
    elif encoding.kind == "values":
        raw_values = list(encoding.values)
    elif encoding.kind == "mapping":  # each class's (first) value: nnU-Net's ignore label left out
        raw_values = [
            min((v for v, k in encoding.value_map.items() if k == c), default=float(c))
            for c in range(encoding.num_classes)
        ]
    unused = set(unused_classes(encoding))
    named = [value_names.get(int(v)) if value_names and float(v).is_integer() else None for v in raw_values]
    if value_names and raw_values and all(n for i, n in enumerate(named) if i not in unused):
        # the empty classes between non-contiguous values (0/1/4/7) keep a generic name unless the data names them
        names = [str(n) if n else f"class_{i}" for i, n in enumerate(named)]
        if len(set(names)) == len(names):
            return names
        logger.warning("the dataset.json names two classes alike (%s): generic class names used", ", ".join(names))
    elif value_names and raw_values:
        pairs = enumerate(zip(raw_values, named, strict=True))
        unnamed = [f"{v:g}" for i, (v, n) in pairs if not n and i not in unused]
        logger.warning(
            "the dataset.json names the mask values %s but not %s: generic class names used; name every value "
            "in it, or give the names with --set class_names=...",
            ", ".join(str(k) for k in sorted(value_names)),
            ", ".join(unnamed),
        )
    if encoding.num_classes == 2:
        return ["background", "foreground"]
    if encoding.kind == "values" and SPARSE_MARK in encoding.note:  # SPIDER's 100, 201: class_100, class_201
        return ["background", *[f"class_{v:g}" for v in encoding.values[1:]]]
    return ["background", *[f"class_{i}" for i in range(1, encoding.num_classes)]]
