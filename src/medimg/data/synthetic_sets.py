"""Synthetic image sets (written by ``medimg generate``) as training cases of a real dataset.

A synthetic set is a folder of class sub-folders with ``synthetic.csv`` (``path,label,synthetic,run,seed``; the
labels are exact, the folder names may be sanitised), or any classification folder or CSV manifest. Its images
join the training split only: they are never in ``splits.json``, so validation, test and every report stay real.
The manifest's ``run`` column names the generator run, whose own split (:func:`generator_runs`,
:func:`evaluation_images_trained_on`) tells whether the generator saw a classifier's validation or test images.

Synthetic images are never data of their own: a dataset some of whose images a ``synthetic.csv`` lists (a set
written into the data's class folders) is refused (:func:`refuse_synthetic_images`), since any of them could land
in validation or test and be scored as a patient's image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medimg.data.case import Case, is_missing_value
from medimg.errors import DatasetError

MANIFEST = "synthetic.csv"
"""The manifest ``medimg generate`` writes beside the images."""

#: how far above an image a manifest listing it may sit (``medimg generate`` writes ``OUT/<class>/<image>``)
MANIFEST_LEVELS = 2


def read_synthetic_cases(source: str | Path, class_names: list[str]) -> list[Case]:
    """The images of a synthetic set as cases labelled with indices into ``class_names``.

    Case ids are ``synthetic/<path relative to the set>``, so they never collide with the real cases.

    Raises:
        DatasetError: the set does not exist, holds no images, or names a class the real data lacks.
    """
    root = Path(source)
    if not root.exists():
        raise DatasetError(f"synthetic set {root} does not exist; write one with `medimg generate RUN --out {root}`")
    manifest = root / MANIFEST if root.is_dir() else root
    if manifest.is_file():
        from medimg.data.layouts.common import read_manifest

        columns, rows = read_manifest(manifest)
        if "path" not in columns or "label" not in columns:
            raise DatasetError(f"{manifest} needs the columns path,label (found: {', '.join(columns) or 'none'})")
        base = manifest.parent
        found = [(base / row[columns["path"]], str(row[columns["label"]])) for row in rows]
    else:
        from medimg.data.dataset import Dataset

        dataset = Dataset.load(root, task="classify")
        base = Path(dataset.root)
        found = [(Path(c.path), dataset.class_names[c.label]) for c in dataset.cases if c.path and c.label is not None]
    if not found:
        raise DatasetError(f"synthetic set {root} holds no images")
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({label for _, label in found if label not in index})
    if unknown:
        raise DatasetError(
            f"synthetic set {root} has class(es) {unknown} that the training data lacks ({class_names}); "
            "generate from a run trained on this data"
        )
    missing = [str(path) for path, _ in found if not path.is_file()]
    if missing:
        raise DatasetError(f"synthetic set {root}: {len(missing)} listed file(s) do not exist, e.g. {missing[0]}")
    cases = []
    for path, label in found:
        try:
            relative = path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            relative = path.name
        cases.append(Case(case_id=f"synthetic/{relative}", label=index[label], path=path.resolve()))
    return cases


def generator_runs(source: str | Path) -> tuple[list[Path], list[str]]:
    """The generator runs a synthetic set names in its manifest's ``run`` column: the run folders found, and the
    names that lead to no run folder (moved or deleted). An absolute name is taken as it is; a relative one (sets
    written before the column held absolute paths) is looked for from the current folder, then from the set's."""
    root = Path(source)
    manifest = root / MANIFEST if root.is_dir() else root
    if not manifest.is_file():
        return [], []
    from medimg.data.layouts.common import read_manifest

    columns, rows = read_manifest(manifest)
    if "run" not in columns:
        return [], []
    names = dict.fromkeys(str(row[columns["run"]]).strip() for row in rows)
    found: list[Path] = []
    lost: list[str] = []
    for name in names:
        if is_missing_value(name):
            continue
        given = Path(name).expanduser()
        candidates = [given] if given.is_absolute() else [Path.cwd() / given, manifest.parent / given]
        run = next((c.resolve() for c in candidates if (c / "splits.json").is_file()), None)
        if run is None:
            lost.append(name)
        elif run not in found:
            found.append(run)
    return found, lost


def evaluation_images_trained_on(run_dir: str | Path, assignment: dict[str, str]) -> list[str]:
    """The case ids of ``assignment`` (``case id -> train/val/test``, a run's ``splits.json``) outside its
    training split that run ``run_dir`` (a generator, a teacher) trained on, sorted: what a model made by that run
    may carry of this run's validation and test images."""
    path = Path(run_dir) / "splits.json"
    try:
        trained = json.loads(path.read_text(encoding="utf-8")).get("assignment", {})
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path} cannot be read ({error})") from error
    return sorted(c for c, part in assignment.items() if part != "train" and trained.get(c) == "train")


def synthetic_files(manifest: Path) -> set[Path]:
    """The files (resolved) that a ``synthetic.csv`` marks synthetic: every row whose ``synthetic`` cell is not
    ``0`` (a manifest without the column marks them all); none when it cannot be read."""
    from medimg.data.layouts.common import read_manifest

    try:
        columns, rows = read_manifest(manifest)
    except DatasetError:
        return set()
    if "path" not in columns:
        return set()
    marked = columns.get("synthetic")
    base = manifest.parent
    return {
        (base / str(row[columns["path"]]).strip()).resolve()
        for row in rows
        if str(row.get(columns["path"]) or "").strip()
        and (marked is None or str(row.get(marked) or "").strip() not in {"0", "false", "False"})
    }


def refuse_synthetic_images(dataset: Any) -> None:
    """Refuse a dataset (classification cases with files) some of whose images a ``synthetic.csv`` lists: looked
    for beside each folder of images, up to :data:`MANIFEST_LEVELS` above it (where ``medimg generate`` puts it)
    and at the dataset's root. Generated images in the data would be split like real ones, into validation and test.

    Raises:
        DatasetError: the data holds synthetic images (the message names the manifest, an image and the fix).
    """
    root = Path(dataset.root)
    paths = [Path(c.path) for c in dataset.cases if c.path is not None]
    folders = {root if root.is_dir() else root.parent}
    for folder in {p.parent for p in paths}:
        folders.update([folder, *list(folder.parents)[: MANIFEST_LEVELS - 1]])
    manifests = sorted(f / MANIFEST for f in folders if (f / MANIFEST).is_file())
    if not manifests:
        return
    for manifest in manifests:
        marked = synthetic_files(manifest)
        listed = [p for p in paths if p.resolve() in marked] if marked else []
        if listed:
            raise DatasetError(
                f"{root}: {len(listed)} of its images are synthetic (listed in {manifest}, written by medimg "
                f"generate), e.g. {listed[0]}; they would be split like real images and could be scored as "
                "validation or test patients. Move them out of the data (the files that manifest lists) and add "
                "them to training with `medimg fit DATA --synthetic SET` (Model.fit(..., synthetic=SET)); "
                "generate into a folder of its own (medimg generate RUN --out SET)"
            )
