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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medimg.data.case import Case, is_missing_value
from medimg.errors import DatasetError, MedimgError

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
    from medimg.data.labels import find_class

    # a label names its class whatever its case or Unicode form, as every label does ("Pneumonia", "pneumonia")
    index = {label: find_class(label, class_names) for label in {label for _, label in found}}
    unknown = sorted(label for label, i in index.items() if i is None)
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


#: images of each side (the data's training split, the synthetic set) read to compare them
COMPARE_IMAGES = 8
#: the largest ratio of a synthetic set's image side to the data's median side taken as the same kind of image
SIDE_RATIO = 1.5
#: the largest ratio of intensity spans (0.5-99.5 percentiles) taken as the same units
SPAN_RATIO = 8.0


def refuse_unlike_images(dataset: Any, real: Sequence[Case], synthetic: Sequence[Case], source: str | Path) -> None:
    """Refuse a synthetic set whose images are the data's own files (``--synthetic DATA``), or not images of this
    data's kind: another number of spatial axes, of channels (grayscale and RGB), a median side more than
    :data:`SIDE_RATIO` times the data's (or less), or intensities in other units (ranges that do not overlap, or
    spans more than :data:`SPAN_RATIO` apart: 16-bit NIfTI samples for 8-bit PNGs). A few images of each are read
    (:data:`COMPARE_IMAGES`); the generator run's plan (the manifest's ``run``), when found, gives its training
    intensities too. Such images would be read as training images of the classifier and silently change what it
    learns.

    Raises:
        DatasetError: the message names the set, the difference and the fix.
    """
    import numpy as np

    own = {Path(c.path).resolve() for c in dataset.cases if c.path is not None}
    shared = [c.path for c in synthetic if c.path is not None and Path(c.path).resolve() in own]
    if shared:
        raise DatasetError(
            f"synthetic set {source}: {len(shared)} of its {len(synthetic)} images are the data's own images "
            f"(e.g. {shared[0]}), not generated ones: they would be trained on twice and counted as synthetic; give "
            "--synthetic the folder medimg generate wrote (medimg generate RUN --out SET)"
        )

    def looks(
        cases: Sequence[Case],
    ) -> tuple[set[int], set[int], list[tuple[float, float, float]], tuple[float, float]] | None:
        """Spatial axes and channels seen, (least, median, largest) side per axis, 0.5-99.5 percentiles."""
        step = max(1, len(cases) // COMPARE_IMAGES)
        dims: set[int] = set()
        channels: set[int] = set()
        sides: list[list[int]] = []
        values = []
        for case in list(cases)[::step][:COMPARE_IMAGES]:
            try:
                image = dataset.read(case)
            except MedimgError:  # unreadable files are reported (or skipped) where training reads them
                continue
            dims.add(image.ndim_spatial)
            channels.add(image.channels)
            sides.append(list(image.spatial_shape))
            values.append(np.asarray(image.array, dtype=np.float32).ravel()[::7])
        if not values:
            return None
        pixels = np.concatenate(values)
        low, high = np.percentile(pixels, [0.5, 99.5])
        per_axis = [(float(min(s)), float(np.median(s)), float(max(s))) for s in zip(*sides, strict=False)]
        return dims, channels, per_axis, (float(low), float(high))

    ours, theirs = looks(real), looks(synthetic)
    if ours is None or theirs is None:
        return
    fix = "draw the set from a generator trained on this data (medimg fit DATA --task generate, then medimg generate)"
    what = f"synthetic set {source}"
    if not ours[0] & theirs[0] or not ours[1] & theirs[1]:  # data of mixed channels: any of them will do

        def kind(dims: set[int], channels: set[int]) -> str:
            return "/".join(f"{d}D" for d in sorted(dims)) + " with " + "/".join(map(str, sorted(channels)))

        raise DatasetError(
            f"{what} holds {kind(*theirs[:2])} channel(s), the data {kind(*ours[:2])} channel(s) "
            f"(grayscale 1, RGB 3): its images are not of this data; {fix}"
        )
    # beyond the data's own sizes (by more than SIDE_RATIO) on some axis
    if any(
        side[1] > real[2] * SIDE_RATIO or side[1] * SIDE_RATIO < real[0]
        for real, side in zip(ours[2], theirs[2], strict=False)
    ):
        size = "x".join(f"{side[1]:g}" for side in theirs[2])
        raise DatasetError(
            f"{what} holds images of {size} (median), the data {'x'.join(f'{r[1]:g}' for r in ours[2])}: they were "
            f"generated for other images; {fix}"
        )
    low, high = ours[3]
    span = max(high - low, 1e-6)

    def refuse(name: str, other: tuple[float, float]) -> None:
        raise DatasetError(
            f"{what}: {name} intensities {other[0]:g}..{other[1]:g} are in other units than the data's "
            f"{low:g}..{high:g} (0.5-99.5 percentiles; e.g. 16-bit or NIfTI samples for 8-bit images): {fix}"
        )

    # the samples themselves: only ranges far apart (a poor generator's samples may be noisier or flatter)
    if min(high + span / 2, theirs[3][1]) < max(low - span / 2, theirs[3][0]):
        refuse("its images'", theirs[3])
    for run in generator_runs(source)[0]:
        try:
            plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
            trained = (float(plan["clip_low"]), float(plan["clip_high"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        name = f"its generator's ({run})"
        if plan.get("output_format") == "png":  # 8-bit data: the fixed 0..255, whatever part of it the data uses
            if low < trained[0] - 0.5 or high > trained[1] + 0.5:
                refuse(name, trained)
            continue
        scale = max(trained[1] - trained[0], 1e-6) / span  # other intensities: the data's own percentiles
        if min(high, trained[1]) < max(low, trained[0]) or not 1 / SPAN_RATIO <= scale <= SPAN_RATIO:
            refuse(name, trained)
