"""The ``dataset.json`` of a Medical Segmentation Decathlon or nnU-Net dataset: what it says about the channels and
the mask values, read in one place.

================================  ===========================================================================
field                             read as
================================  ===========================================================================
``labels``                        ``{value: name}``: MSD's ``{"1": "edema"}``, nnU-Net v2's ``{"edema": 1}``
``labels`` with lists (v2)        nnU-Net v2 *regions* (``"whole tumor": [1, 2, 3]``): overlapping classes, kept
                                  apart in :attr:`DatasetJson.regions` (medimg trains one class per mask value)
``channel_names`` (v2) /          each input channel's name by index (``{"0": "FLAIR", "1": "T1"}``): the
``modality`` (MSD)                order the channel files ``_0000``, ``_0001``... (or a 4D file's volumes) hold
================================  ===========================================================================

The file is looked for in the data folder and its parent (``imagesTr/``'s parent for an input folder).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medimg.errors import DatasetError

__all__ = ["DATASET_JSON", "DatasetJson", "find_dataset_json", "read_dataset_json"]

DATASET_JSON = "dataset.json"
"""The file name MSD and nnU-Net give it."""


@dataclass(frozen=True)
class DatasetJson:
    """What a ``dataset.json`` says.

    Attributes:
        path: the file.
        labels: ``{mask value: name}`` of the values named one by one.
        regions: ``{name: [values]}`` of nnU-Net v2 regions (a name for several values).
        channel_names: each input channel's name, by index (``channel_names`` or ``modality``); ``None`` when it
            names none.
    """

    path: Path
    labels: dict[int, str] = field(default_factory=dict)
    regions: dict[str, list[int]] = field(default_factory=dict)
    channel_names: list[str] | None = None


def find_dataset_json(root: Path) -> Path | None:
    """The ``dataset.json`` in ``root`` (a folder, or a file's folder) or its parent; ``None`` when neither has one."""
    folder = root if root.is_dir() else root.parent
    for candidate in (folder / DATASET_JSON, folder.parent / DATASET_JSON):
        if candidate.is_file():
            return candidate
    return None


def read_dataset_json(root: Path) -> DatasetJson | None:
    """The ``dataset.json`` beside ``root`` (:func:`find_dataset_json`), read; ``None`` when there is none.

    Raises:
        DatasetError: the file is not JSON, or its ``labels`` or channel names are not what MSD / nnU-Net write
            (naming the file and the entry).
    """
    path = find_dataset_json(root)
    if path is None:
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not a readable dataset.json ({error}); fix it or pass label_names") from error
    if not isinstance(content, Mapping):
        raise DatasetError(f"{path}: a dataset.json holds a JSON object (labels, channel_names...); fix the file")
    labels, regions = _labels(content.get("labels"), path)
    return DatasetJson(path=path, labels=labels, regions=regions, channel_names=_channel_names(content, path))


def _labels(labels: Any, path: Path) -> tuple[dict[int, str], dict[str, list[int]]]:
    """``({value: name}, {region name: [values]})`` from MSD's ``{value: name}`` or nnU-Net v2's ``{name: value}``
    (a list of values for a region)."""
    if not isinstance(labels, Mapping):
        return {}, {}
    names: dict[int, str] = {}
    regions: dict[str, list[int]] = {}
    for key, value in labels.items():
        try:
            if str(key).strip().lstrip("-").isdigit():
                names[int(key)] = str(value)
            elif isinstance(value, list | tuple):
                regions[str(key)] = [int(v) for v in value]
            elif isinstance(value, int | float) or str(value).strip().isdigit():
                names[int(value)] = str(key)
            else:
                raise ValueError(value)
        except (TypeError, ValueError) as error:
            raise DatasetError(
                f"{path}: label {key!r}: {value!r} is neither value -> name (MSD), name -> value nor name -> [values] "
                "(nnU-Net v2); fix the entry"
            ) from error
    return names, regions


def _channel_names(content: Mapping[str, Any], path: Path) -> list[str] | None:
    """The channel names by index (``channel_names``, else MSD's ``modality``), ``None`` when neither is there.

    Raises:
        DatasetError: the indices are not 0, 1, 2... (naming the file).
    """
    entry = next((content[key] for key in ("channel_names", "modality") if isinstance(content.get(key), Mapping)), None)
    if not entry:
        return None
    try:
        by_index = {int(index): str(name) for index, name in entry.items()}
    except (TypeError, ValueError) as error:
        raise DatasetError(
            f'{path}: channel_names {dict(entry)} must map channel indices to names ({{"0": "FLAIR", "1": '
            '"T1"}); fix the entry'
        ) from error
    if sorted(by_index) != list(range(len(by_index))):
        raise DatasetError(
            f"{path}: channel_names has indices {sorted(by_index)}; they must be 0, 1, 2... (one per channel file "
            "_0000, _0001...); fix the entry"
        )
    return [by_index[i] for i in range(len(by_index))]
