"""Train/val/test assignment: the data's own split when it has one, else stratified and patient-grouped.

A split is saved with every run (``splits.json``) so evaluation and prediction use exactly the same cases.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medimg.data.case import Case, SegCase
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)


@dataclass
class Splits:
    """Which split each case belongs to.

    Attributes:
        assignment: ``case_id -> "train" | "val" | "test"``.
        method: how it was made (``"own"``, ``"own+carved-val"``, ``"stratified"``, ``"stratified-grouped"``...).
        seed: the random seed used for any carving.
    """

    assignment: dict[str, str]
    method: str
    seed: int
    notes: list[str] = field(default_factory=list)

    def cases(self, cases: Sequence[Case], split: str) -> list[Case]:
        """The cases of ``split``, in dataset order."""
        return [c for c in cases if self.assignment.get(c.case_id) == split]

    def counts(self) -> dict[str, int]:
        counts = Counter(self.assignment.values())
        return {s: counts.get(s, 0) for s in ("train", "val", "test")}

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "seed": self.seed,
            "counts": self.counts(),
            "notes": self.notes,
            "assignment": self.assignment,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Splits:
        return cls(
            assignment=dict(data["assignment"]),
            method=str(data["method"]),
            seed=int(data["seed"]),
            notes=list(data.get("notes", [])),
        )


def make_splits(
    cases: Sequence[Case],
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    warn: bool = True,
) -> Splits:
    """Assign every case to train/val/test.

    The data's own split wins when every case has one; a missing ``val`` (or ``test``) part is carved out of
    ``train`` with the same stratified, patient-grouped procedure. Without an own split, cases are split
    ``1 - val - test : val : test`` stratified by label and grouped by ``patient_id`` when present, so one
    patient's images never straddle splits.

    A class too small to sit in every part is warned about (named from ``class_names`` when given) unless ``warn``
    is false (a split made only to look at the data, as ``medimg check`` does a second time).
    """
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"invalid split fractions val={val_fraction}, test={test_fraction}: each in (0, 1), sum below 1"
        )
    notes: list[str] = []  # what the split cannot do as asked, kept in splits.json
    if all(c.split is not None for c in cases):
        assignment = {c.case_id: str(c.split) for c in cases}
        method = "own"
        if "train" not in assignment.values() and "val" in assignment.values():
            assignment = {k: "train" if v == "val" else v for k, v in assignment.items()}
            method += "+val-trained"
            notes.append(
                "the data has no train split with labels (its training images have none: WSSS4LUAD's image-level "
                f"1.training/): its val split ({sum(c.split == 'val' for c in cases)} cases) is trained on, a "
                "validation part carved from it"
            )
            logger.warning(notes[-1])
        present = set(assignment.values())
        own_train = [c for c in cases if assignment[c.case_id] == "train"]
        parts = {
            missing: fraction / (1 - (0 if missing == "test" else test_fraction))
            for missing, fraction in (("test", test_fraction), ("val", val_fraction))
            if missing not in present and fraction > 0
        }
        if warn:
            _warn_small_classes(own_train, parts.values(), class_names)
        for missing, part in parts.items():
            train = [c for c in cases if assignment[c.case_id] == "train"]
            scale = 1.0 if missing == "test" else 1 - test_fraction  # --val-fraction = part * scale
            carved = _carve(
                train, part, seed, part=missing, scale=scale, fractions=(val_fraction, test_fraction), notes=notes
            )
            for c in carved:
                assignment[c.case_id] = missing
            method += f"+carved-{missing}"
            notes.append(f"the data has no {missing} split: {len(carved)} train cases were moved to {missing}")
            logger.warning(notes[-1])
        if warn and parts:  # the classes of the data's training split, after carving from it
            notes += _warn_absent_classes(own_train, {c.case_id: assignment[c.case_id] for c in own_train}, class_names)
        straddling = patients_in_several_splits(cases, dict(assignment)) if warn else []
        if straddling:  # m2cai16's ImageSets/Main lists, frames of each video in all three
            notes.append(
                f"{len(straddling)} patient(s) have images in several of the data's own splits (e.g. "
                f"{straddling[0]}): the test score measures patients seen in training; give a split that keeps each "
                "patient's images on one side (or drop the data's split lists: medimg then splits by patient)"
            )
            logger.warning(notes[-1])
        return Splits(assignment=assignment, method=method, seed=seed, notes=notes)

    grouped = any(c.patient_id for c in cases)
    assignment = {c.case_id: "train" for c in cases}
    pool = list(cases)
    if warn:
        held_out = [f for f in (test_fraction, val_fraction / (1 - test_fraction)) if f > 0]
        _warn_small_classes(pool, held_out, class_names)
    if test_fraction > 0:
        test = _carve(pool, test_fraction, seed, part="test", fractions=(val_fraction, test_fraction), notes=notes)
        for c in test:
            assignment[c.case_id] = "test"
        chosen = {c.case_id for c in test}
        pool = [c for c in pool if c.case_id not in chosen]
    val_part = val_fraction / (1 - test_fraction)
    for c in _carve(
        pool,
        val_part,
        seed + 1,
        part="val",
        scale=1 - test_fraction,
        fractions=(val_fraction, test_fraction),
        notes=notes,
    ):
        assignment[c.case_id] = "val"
    notes += _warn_absent_classes(cases, assignment, class_names) if warn else []
    return Splits(
        assignment=assignment, method="stratified-grouped" if grouped else "stratified", seed=seed, notes=notes
    )


def _groups(cases: Sequence[Case]) -> np.ndarray:
    """One group per patient (else per case), joined with the groups of its images' identical copies
    (``Case.same_image``): a copy of one patient's image filed under another patient puts both in one group,
    named by the first of their keys, so data without copies is grouped (and split) as before."""
    from medimg.data.disjoint_sets import DisjointSets

    own = [c.patient_id or f"__case__{c.case_id}" for c in cases]
    groups = DisjointSets(own)
    first_of_image: dict[str, str] = {}
    for key, case in zip(own, cases, strict=True):
        if case.same_image:
            groups.join(first_of_image.setdefault(case.same_image, key), key)
    return np.array([groups.root(key) for key in own])


def _parts(fraction: float) -> int:
    """How many parts :func:`_carve` cuts to hold out ``fraction``."""
    return max(2, round(1 / fraction))


def small_strata(cases: Sequence[Case], needed: int, class_names: Sequence[str] | None = None) -> str:
    """The strata (:attr:`Case.stratum`) of fewer than ``needed`` cases, named for a message (``"class 'cyst'
    (1 image)"``, ``"images without any finding (1)"``); ``""`` when there is none."""
    counts = Counter(c.stratum for c in cases)
    small = sorted((n, stratum) for stratum, n in counts.items() if n < needed)
    return ", ".join(_stratum_name(stratum, n, class_names) for n, stratum in small)


def _stratum_name(stratum: int, n: int, class_names: Sequence[str] | None) -> str:
    """A stratum and its count in words: ``"class 'cyst' (1 image)"``, ``"images without any finding (1)"``."""
    if stratum == -1:
        return f"images without any finding ({n})"
    names = list(class_names or [])
    name = repr(names[stratum]) if 0 <= stratum < len(names) else f"number {stratum}"
    return f"class {name} ({n} image{'s' if n != 1 else ''})"


def _warn_small_classes(
    cases: Sequence[Case], fractions: Iterable[float], class_names: Sequence[str] | None = None
) -> None:
    """Say once, before the parts are carved, which classes are too small to be in every part."""
    needed = max((_parts(f) for f in fractions), default=0)
    if all(c.label is None and c.findings is None for c in cases):
        return  # segmentation, detection: no class to stratify (they were "images without any finding"); a set too
        # small for its parts is refused with the fractions that would fit (_too_few_groups)
    small = small_strata(cases, needed, class_names)
    if small:
        logger.warning("too few to sit in every part of the split (%d parts): %s", needed, small)


def _warn_absent_classes(
    cases: Sequence[Case], assignment: Mapping[str, str], class_names: Sequence[str] | None = None
) -> list[str]:
    """Name each class that the split left out of the training split (the model never learns it: every image of it
    held out, as a group of near-identical images can be) or of a held-out part (a class of 2 images among 400
    cannot be in all three): a test split without it scores a model that never meets it (its sensitivity undefined,
    accuracy as if it did not exist), a validation split without it chooses the epoch without it. Returns the
    warnings about the training split, for the split's notes."""
    held_out = [part for part in ("val", "test") if part in set(assignment.values())]
    counts: Counter[int] = Counter()
    parts: dict[int, set[str]] = {}
    for c in cases:  # single-label classes (a finding of a multi-label case may sit in a split as a second finding)
        if c.label is not None:
            counts[c.label] += 1
            parts.setdefault(c.label, set()).add(assignment[c.case_id])
    untrained = [
        f"{_stratum_name(label, counts[label], class_names)}: none in the training split (all in "
        f"{' and '.join(sorted(parts[label]))}), so the model never learns it; add images of it, or give the data a "
        "split with some in training"
        for label in sorted(counts)
        if "train" not in parts[label]
    ]
    for note in untrained:
        logger.warning(note)
    for label in sorted(counts):
        missing = [part for part in held_out if part not in parts[label]]
        if missing and "train" in parts[label]:
            where = " and ".join({"val": "validation", "test": "test"}[part] for part in missing)
            logger.warning(
                "%s: none in the %s split%s, so %s; add images of it",
                _stratum_name(label, counts[label], class_names),
                where,
                "s" if len(missing) > 1 else "",
                "the test scores say nothing about it (its sensitivity there is undefined)"
                if "test" in missing
                else "the epoch is chosen without it",
            )
    return untrained


def _carve(
    cases: Sequence[Case],
    fraction: float,
    seed: int,
    *,
    part: str = "val",
    scale: float = 1.0,
    fractions: tuple[float, float] = (0.15, 0.15),
    notes: list[str] | None = None,
) -> list[Case]:
    """Pick about ``fraction`` of ``cases``, stratified by label and never splitting a patient.

    Args:
        part: the split carved (``"val"`` or ``"test"``), for the message when there are too few groups.
        scale: the option's value is ``fraction * scale`` (``--val-fraction`` is carved from what the test split
            leaves), for the fix the message proposes.
        fractions: the val and test fractions in use (a proposed fraction leaves room for the other).
        notes: the split's notes, where a part drawn without stratification is said.

    Raises:
        DatasetError: fewer groups (patients, or images with their identical copies) than parts to cut.
    """
    if not cases:
        return []
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.array([c.stratum for c in cases])
    groups = _groups(cases)
    n_splits = _parts(fraction)
    n_groups = len(set(groups.tolist()))
    if n_groups < n_splits:
        raise DatasetError(_too_few_groups(cases, n_groups, fraction, n_splits, part, scale, fractions))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    try:
        with _quiet_small_classes():  # said above in medimg's words
            held = _fitting_fold([held for _, held in splitter.split(np.zeros(len(cases)), labels, groups)], labels)
    except ValueError:  # every class is smaller than the number of parts: a plain grouped random part instead
        from sklearn.model_selection import GroupShuffleSplit

        note = (
            f"every class has fewer than {n_splits} images: the {100 * fraction:.0f}% {part} part is drawn without "
            "stratification"
        )
        logger.warning(note)
        if notes is not None:
            notes.append(note)
        shuffled = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        _, held = next(iter(shuffled.split(np.zeros(len(cases)), labels, groups)))
    return [cases[i] for i in sorted(held)]


def _fitting_fold(folds: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """The first of ``folds`` (the held-out indices of each) unless it takes every case of a class or more than twice
    its share of the cases (a large group of near-identical images, one class's and another's, held out whole
    took VinDr-Mammo's BI-RADS 4 out of training): then the first fold that does neither, else the first."""
    share = len(labels) / len(folds)

    def fits(held: np.ndarray) -> bool:
        left = np.ones(len(labels), bool)
        left[held] = False
        return len(held) <= 2 * share and set(labels[left].tolist()) == set(labels.tolist())

    return next((held for held in folds if fits(held)), folds[0])


def _too_few_groups(
    cases: Sequence[Case],
    n_groups: int,
    fraction: float,
    n_splits: int,
    part: str,
    scale: float,
    fractions: tuple[float, float],
) -> str:
    """Why ``cases`` cannot give a ``part`` split of ``fraction`` (it cuts ``n_splits`` parts of whole groups, and
    there are ``n_groups``): how many image files, how many groups once one patient's images and identical copies
    of one image are kept together, and the options that make it fit (``fractions``: the val and test fractions in
    use)."""
    import math

    val_fraction, test_fraction = fractions
    joined = []
    if any(c.patient_id for c in cases):
        joined.append("the images of one patient")
    if any(c.same_image for c in cases):
        joined.append("identical copies of an image")
    images = f"{len(cases)} image{'s' if len(cases) != 1 else ''}"
    if part == "val" and test_fraction > 0:
        images += " left for training and validation after the test split"
    groups = f"{n_groups} group{'s' if n_groups != 1 else ''}"
    found = (
        f"{images}, only {groups} once {' and '.join(joined)} are kept together (in one split)"
        if joined and n_groups < len(cases)
        else f"only {images}"
    )
    head = (
        f"{found}: too few to hold out a {'validation' if part == 'val' else 'test'} split of {fraction * scale:.0%} "
        f"(it takes whole {'groups' if joined else 'images'}, one of {n_splits} parts: at least {n_splits} needed)"
    )
    fixes = []
    if n_groups >= 2:
        smallest = math.ceil(100 * scale / n_groups) / 100  # --val-fraction (or --test-fraction) of one group
        if part == "test":
            val = math.ceil(100 / n_groups) / 100
            fixes.append(
                "pass --test-fraction 0 (no test split; evaluate on other data later)"
                + (f" with --val-fraction {val:.2f}" if _parts(val_fraction) > n_groups else "")
            )
            if n_groups >= 3:  # its one group out, the others must hold the validation split too (CoNIC's 6 slides)
                left = math.ceil(100 / (n_groups - 1)) / 100
                fixes.append(
                    f"a larger --test-fraction such as {smallest:.2f}"
                    + (f" with --val-fraction {left:.2f}" if _parts(val_fraction) > n_groups - 1 else "")
                )
        elif smallest + test_fraction < 1:
            fixes.append(f"pass --val-fraction {smallest:.2f}")
        else:
            fixes.append("pass --test-fraction 0 (no test split) to leave more for training and validation")
    other = "images of other patients" if any(c.patient_id for c in cases) else "other images"
    fixes.append(f"add {other}{' (not copies of these)' if any(c.same_image for c in cases) else ''}")
    return f"{head}; {', or '.join(fixes)}"


def kfold_assignments(
    cases: Sequence[Case],
    folds: int,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    held_out: int = 0,
) -> list[int]:
    """Fold index (0..folds-1) per case, stratified by label and grouped by patient (``held_out``: the images of
    the test split, left out of ``cases``, for the message).

    Raises:
        DatasetError: fewer than 2 folds, or fewer patients than folds.
    """
    if folds < 2:
        raise DatasetError(f"--folds must be at least 2 (got {folds})")
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.array([c.stratum for c in cases])
    groups = _groups(cases)
    if (found := len(set(groups.tolist()))) < folds:
        test = f" once the test split's {held_out} images are held out (--test-fraction 0 folds them all)"
        raise DatasetError(
            f"{folds}-fold cross-validation needs at least {folds} patients/images, and {found} are left to "
            f"fold{test if held_out else ''}: pass --folds {found} at most, or add images"
        )
    fold_of = [0] * len(cases)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    small = small_strata(cases, folds, class_names)
    if small:
        logger.warning("too few for every one of the %d folds to hold them: %s", folds, small)
    with _quiet_small_classes():
        for fold, (_, held) in enumerate(splitter.split(np.zeros(len(cases)), labels, groups)):
            for i in held:
                fold_of[i] = fold
    return fold_of


@contextmanager
def _quiet_small_classes() -> Iterator[None]:
    """scikit-learn's "least populated class" UserWarning, printed raw to the user's terminal, is silenced where
    medimg logs the same fact itself."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        yield


def cases_for(dataset: Any, splits: Splits | None, split: str) -> list[Any]:
    """Cases of ``split`` ("train"/"val"/"test"/"all"): from saved ``splits`` when they cover the dataset's
    cases (all: every case they assign, not the ones the fit left out, such as a class none of whose images could
    be read), else the dataset's own split (an external set)."""
    if splits is not None:
        given = splits.assignment
        chosen = [c for c in dataset.cases if c.case_id in given and split in ("all", given[c.case_id])]
        if chosen or any(c.case_id in given for c in dataset.cases):
            return chosen
    return [c for c in dataset.cases if split in ("all", c.split)]


def patients_in_several_splits(cases: Sequence[Case | SegCase], split_of: dict[str, str | None]) -> list[str]:
    """``"<patient> [<splits>] (<n> images: <an image in each split>)"`` for every patient (``Case.patient_id``: a
    CSV column, a sub-folder, DICOM headers, where it is a hash) whose images lie in more than one split: the
    images name the files to move."""
    splits_of: dict[str, dict[str, str]] = {}
    images: Counter[str] = Counter()
    for case in cases:
        split = split_of.get(case.case_id)
        if case.patient_id and split:
            splits_of.setdefault(case.patient_id, {}).setdefault(split, case.case_id)
            images[case.patient_id] += 1
    return [
        f"{patient} [{', '.join(sorted(splits))}] ({images[patient]} images: "
        + ", ".join(f"{split} {splits[split]}" for split in sorted(splits))
        + ")"
        for patient, splits in splits_of.items()
        if len(splits) > 1
    ]
