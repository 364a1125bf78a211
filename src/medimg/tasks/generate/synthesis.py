"""Writing synthetic sets: images drawn from a trained generative model, in the training data's layout (class
folders of PNG for 8-bit 2D data, NIfTI otherwise) at the training size, with a ``synthetic.csv`` manifest
(``path,label,synthetic,run,seed``) that marks every file as synthetic and that ``medimg fit --synthetic`` reads.

Writing into a folder that already holds a set adds to it (e.g. one class at a time, with different seeds); a
file written again with the same name and seed is the same image and is listed once.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from medimg.data.synthetic_sets import MANIFEST
from medimg.errors import ConfigError, did_you_mean
from medimg.fileio import atomic_write_bytes, atomic_write_text
from medimg.tasks.generate.plan import GeneratePlan

COLUMNS = ("path", "label", "synthetic", "run", "seed")


@dataclass
class SyntheticSet:
    """What :func:`write_synthetic_set` wrote.

    Attributes:
        folder: the set's folder.
        manifest: its ``synthetic.csv`` (all rows, earlier ones included).
        paths: the images written by this call.
        labels: their class names.
    """

    folder: Path
    manifest: Path
    paths: list[Path]
    labels: list[str]


def class_labels(plan: GeneratePlan, n: int, class_name: str | None) -> list[int]:
    """``n`` class indices: all of ``class_name``, or spread evenly over the classes.

    Raises:
        ConfigError: an unknown class (with close matches), or ``n < 1``.
    """
    from medimg.tasks.generate.sampling import balanced_labels

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if class_name is None:
        return balanced_labels(n, plan.num_classes)
    if class_name not in plan.class_names:
        raise ConfigError(
            f"unknown class {class_name!r}.{did_you_mean(class_name, plan.class_names)} "
            f"Classes: {', '.join(plan.class_names)}."
        )
    return [plan.class_names.index(class_name)] * n


def folder_name(class_name: str) -> str:
    """A class name made safe as a folder name (the manifest keeps the exact name)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", class_name).strip("._") or "class"


def write_synthetic_set(
    network: nn.Module,
    plan: GeneratePlan,
    out_dir: str | Path,
    *,
    n: int,
    class_name: str | None = None,
    seed: int = 0,
    run: str = "",
) -> SyntheticSet:
    """Draw ``n`` images (of ``class_name``, or evenly over the classes) from ``seed`` and write them with the
    manifest into ``out_dir``."""
    from medimg.tasks.generate.data import to_files
    from medimg.tasks.generate.sampling import sample_images

    folder = Path(out_dir)
    earlier = _read_rows(folder / MANIFEST)
    used = {row.get("seed") for row in earlier}
    if str(seed) in used:  # the same seed draws the same images, under the same file names
        free = next(s for s in range(seed + 1, seed + 2 + len(used)) if str(s) not in used)
        raise ConfigError(
            f"{folder} already holds images drawn with seed {seed}: the same seed draws the same images and would "
            f"overwrite them; add new ones with another seed (--seed {free}), or write to another --out"
        )
    labels = class_labels(plan, n, class_name)
    arrays = to_files(sample_images(network, plan, labels, seed=seed), plan)
    suffix = ".png" if plan.output_format == "png" else ".nii.gz"
    counters: dict[int, int] = {}
    paths: list[Path] = []
    for label, array in zip(labels, arrays, strict=True):
        k = counters[label] = counters.get(label, -1) + 1
        path = folder / folder_name(plan.class_names[label]) / f"synthetic_s{seed}_{k:05d}{suffix}"
        write_image(array, path, plan)
        paths.append(path)
    names = [plan.class_names[label] for label in labels]
    rows = [
        {"path": p.relative_to(folder).as_posix(), "label": name, "synthetic": "1", "run": run, "seed": str(seed)}
        for p, name in zip(paths, names, strict=True)
    ]
    manifest = folder / MANIFEST
    atomic_write_text(manifest, _manifest_text(_merge(earlier, rows)))
    return SyntheticSet(folder=folder, manifest=manifest, paths=paths, labels=names)


def write_image(array: np.ndarray, path: Path, plan: GeneratePlan) -> None:
    """One channel-first image as PNG (uint8 gray or RGB) or NIfTI (float32, with the plan's spacing)."""
    if plan.output_format == "png":
        from PIL import Image

        picture = array[0] if array.shape[0] == 1 else np.moveaxis(array[:3], 0, -1)
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(picture)).save(buffer, format="PNG")
        atomic_write_bytes(path, buffer.getvalue())
        return
    from medimg.io.image import ImageData
    from medimg.io.nifti import write_nifti

    spacing = tuple(plan.output_spacing_mm) if plan.output_spacing_mm else None
    write_nifti(ImageData(array=array, spacing_mm=spacing, source=str(path)), path)


def _read_rows(manifest: Path) -> list[dict[str, str]]:
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _merge(old: Sequence[dict[str, str]], new: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    rows = {row.get("path", ""): row for row in old}
    rows.update({row["path"]: row for row in new})
    return list(rows.values())


def _manifest_text(rows: Sequence[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    return buffer.getvalue()
