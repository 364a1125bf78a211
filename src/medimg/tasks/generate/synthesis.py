"""Writing synthetic sets: images drawn from a trained generative model, in the training data's layout (class
folders of PNG for 8-bit 2D data, NIfTI otherwise) at the training size, with a ``synthetic.csv`` manifest
(``path,label,synthetic,run,seed``) that marks every file as synthetic and that ``medimg fit --synthetic`` reads.

Writing into a folder that already holds a set adds to it (e.g. one class at a time, or more images with another
seed); no file is ever written over: drawing a class again with a seed it was drawn with (the same images, under
the same names) is refused. Each class has its own folder (:func:`class_folders`: Unicode names are kept, names
that would share a folder are told apart), and the manifest keeps the exact class names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from medimg.data.labels import find_class, same_text
from medimg.data.synthetic_sets import MANIFEST, MANIFEST_LEVELS
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
    """``n`` class indices: all of ``class_name`` (its case and Unicode form as the data's, or not), or spread
    evenly over the classes.

    Raises:
        ConfigError: an unknown class (with close matches), or ``n < 1``.
    """
    from medimg.tasks.generate.sampling import balanced_labels

    n = image_count(n)
    if class_name is None:
        return balanced_labels(n, plan.num_classes)
    class_name = str(class_name)  # a class named by a number (labels 0 and 1 of a table): class_name=1
    found = find_class(class_name, plan.class_names)  # "No Finding" is the class "no finding", as every label
    if found is not None:
        return [found] * n
    raise ConfigError(
        f"unknown class {class_name!r}.{did_you_mean(class_name, plan.class_names)} "
        f"Classes: {', '.join(plan.class_names)}."
    )


def image_count(n: object) -> int:
    """``n`` as a number of images: a whole number of at least 1 (``3``, ``3.0``, ``"3"``, a NumPy integer).

    Raises:
        ConfigError: anything else (``0``, ``-2``, ``2.5``, ``"a few"``, ``True``).
    """
    try:
        count = None if isinstance(n, bool) else float(str(n).strip())
    except ValueError:
        count = None
    if count is None or not count.is_integer():
        raise ConfigError(f"--n must be a whole number of images, got {n!r}")
    if count < 1:
        raise ConfigError(f"--n must be at least 1, got {int(count)}")
    return int(count)


#: the longest folder name made from a class name (characters), well inside file systems' 255 bytes
FOLDER_CHARS = 80


def folder_name(class_name: str) -> str:
    """A class name as a folder name: Unicode letters, marks and digits kept (composed form, NFC), every run of
    other characters (spaces, punctuation, path separators) made one ``_``, at most :data:`FOLDER_CHARS`
    characters; ``class`` when nothing is left. Two classes may get the same name: :func:`class_folders` tells
    them apart."""
    kept = "".join(ch if ch in "_.-" or unicodedata.category(ch)[0] in "LMN" else " " for ch in same_text(class_name))
    return "_".join(kept.split())[:FOLDER_CHARS].strip("._-") or "class"


def class_folders(class_names: Sequence[str]) -> list[str]:
    """The folder of each class (index-aligned), all different even on a case-insensitive file system: the
    :func:`folder_name` of each, and where several classes share one (``Grade 1`` and ``Grade_1``, ``?`` and
    ``!``), each of them gets the first characters of its exact name's SHA-1 (``Grade_1-cf24a1``), the same in
    every call."""
    bases = [folder_name(name) for name in class_names]
    shared = Counter(base.casefold() for base in bases)
    names = [
        f"{base}-{hashlib.sha1(same_text(name).encode()).hexdigest()[:6]}" if shared[base.casefold()] > 1 else base
        for base, name in zip(bases, class_names, strict=True)
    ]
    taken: set[str] = set()
    folders = []
    for index, name in enumerate(names):
        while name.casefold() in taken:  # a class literally named as another's disambiguated folder
            name = f"{name}-{index}"
        taken.add(name.casefold())
        folders.append(name)
    return folders


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
    manifest into ``out_dir``; ``run`` (the generator's run folder) is saved as an absolute path, so the set
    names its generator from any folder.

    Raises:
        ConfigError: an unknown class, ``n < 1``, or a file this draw would write exists already (a class drawn
            again with the same seed: the same images under the same names).
    """
    from medimg.tasks.generate.data import to_files
    from medimg.tasks.generate.sampling import iter_samples, require_finite

    folder = Path(out_dir)
    refuse_data_folder(folder, run)
    earlier = _read_rows(folder / MANIFEST)
    labels = class_labels(plan, n, class_name)
    suffix = ".png" if plan.output_format == "png" else ".nii.gz"
    folders = class_folders(plan.class_names)
    counters: dict[int, int] = {}
    paths: list[Path] = []
    for label in labels:
        k = counters[label] = counters.get(label, -1) + 1
        paths.append(folder / folders[label] / f"synthetic_s{seed}_{k:05d}{suffix}")
    existing = [(path, label) for path, label in zip(paths, labels, strict=True) if path.exists()]
    if existing:  # the same seed draws the same images of a class, under the same names
        used = {row.get("seed") for row in earlier} | {str(seed)}
        free = next(s for s in range(seed + 1, seed + 2 + len(used)) if str(s) not in used)
        classes = ", ".join(repr(plan.class_names[label]) for label in dict.fromkeys(label for _, label in existing))
        raise ConfigError(
            f"{folder} already holds images of class {classes} drawn with seed {seed} ({len(existing)} of the "
            f"files this would write exist, e.g. {existing[0][0]}): the same seed draws the same images and would "
            f"overwrite them; add new ones with another seed (--seed {free}), or write to another --out"
        )
    done: list[Path] = []
    try:  # one batch drawn, converted and written at a time: memory does not grow with n
        for images in iter_samples(network, plan, labels, seed=seed):
            for array in to_files(require_finite(images, run), plan):
                write_image(array, paths[len(done)], plan)
                done.append(paths[len(done)])
    except BaseException:  # interrupted, disk full, a diverged batch: no image left that the manifest does not list
        for path in done:
            path.unlink(missing_ok=True)
        raise
    names = [plan.class_names[label] for label in labels]
    generator = str(Path(run).expanduser().resolve()) if run else ""
    rows = [
        {"path": p.relative_to(folder).as_posix(), "label": name, "synthetic": "1", "run": generator, "seed": str(seed)}
        for p, name in zip(paths, names, strict=True)
    ]
    manifest = folder / MANIFEST
    atomic_write_text(manifest, _manifest_text(_merge(earlier, rows)))
    return SyntheticSet(folder=folder, manifest=manifest, paths=paths, labels=names)


#: entries of an existing ``--out`` looked at for images of its own (a large folder is judged on its first ones)
SCAN_ENTRIES = 10_000


def refuse_data_folder(folder: Path, run: str = "") -> None:
    """Refuse to write a synthetic set into real data: ``folder`` is (or is inside) the folder of data the
    generator ``run`` trained on, or holds images that its ``synthetic.csv`` does not list (a labelled dataset,
    a class folder). Written there, synthetic images would be read as patients' images, split into validation and
    test.

    Raises:
        ConfigError: the message names the data folder and the fix (another ``--out``, then ``--synthetic``).
    """
    from medimg.data.synthetic_sets import synthetic_files
    from medimg.io.formats import is_image_file

    target = folder.expanduser().resolve()
    fix = (
        "write the synthetic set to a folder of its own (e.g. --out synthetic/) and add it to training with "
        "`medimg fit DATA --synthetic synthetic/`, which keeps validation and test real"
    )
    data = _trained_data(run)
    if data is not None and data.is_dir() and (target == data or data in target.parents):
        raise ConfigError(f"--out {folder} is inside {data}, the data the generator was trained on: {fix}")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--out {folder} is a file, not a folder: give a folder for the synthetic set")
    outer = next((p for p in list(target.parents)[:MANIFEST_LEVELS] if (p / MANIFEST).is_file()), None)
    if outer is not None:  # a class folder of a set: its images would be listed in two manifests, or in none
        raise ConfigError(
            f"--out {folder} is inside the synthetic set {outer} (its {MANIFEST}): add to that set with --out {outer}, "
            "or write a new set to a folder of its own"
        )
    if not target.is_dir():
        return
    listed = synthetic_files(target / MANIFEST) if (target / MANIFEST).is_file() else set()
    seen = 0
    for parent, dirs, names in os.walk(target):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            seen += 1
            path = Path(parent) / name
            if not name.startswith(".") and path.resolve() not in listed and is_image_file(path):
                raise ConfigError(
                    f"--out {folder} holds images that are not synthetic (e.g. {path}): it looks like a dataset "
                    f"or a class folder of one, whose images these would be mixed with; {fix}"
                )
        if seen >= SCAN_ENTRIES:
            return


def _trained_data(run: str) -> Path | None:
    """The data folder (or table) the generator ``run`` trained on (``config.json``), resolved; ``None`` when
    the run does not say."""
    if not run:
        return None
    from medimg.errors import MedimgError
    from medimg.run_folder import RunFolder

    try:
        return RunFolder(run).trained_data().expanduser().resolve()
    except (MedimgError, KeyError, OSError):
        return None


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
