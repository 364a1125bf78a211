"""k-fold cross-validation for every task: one run per fold over train+val, the test split held out.

Each fold is a complete run in ``run_dir/fold_k``; ``run_dir/cv.json`` holds the folds (which images are the test
split and which are each fold's validation images, written before the first fold trains, so ``--resume`` goes on
with them), each fold's validation and test headline metrics, and per metric their mean ± sd over the folds where
it is defined (``n_folds``); for classification also the metrics of the folds' validation predictions pooled
(``pooled_val``: each train+val image predicted once, by the fold model that did not train on it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medimg.config import FitOptions
from medimg.data.splits import Splits, kfold_assignments, make_splits
from medimg.engine.distributed import Distributed
from medimg.engine.run import FitResult, RunnableTask, fit_run
from medimg.errors import ConfigError, DatasetError, RunFolderError
from medimg.run_folder import RunFolder

logger = logging.getLogger(__name__)

#: ``(fit, dataset, cases, split) -> {metric: value}`` for one fold
Score = Callable[[FitResult, Any, Sequence[Any], str], dict[str, float]]

#: the options that decide which images each fold trains, validates and is tested on
FOLD_OPTIONS = ("folds", "seed", "test_fraction")

VAL_NOTE = (
    "val_* metrics (and the pooled out-of-fold ones) are scored on the validation fold each model chose its epoch "
    "(and any threshold) on: they are optimistic; test_* metrics are scored on the held-out test split, the same "
    "in every fold"
)


def fit_cross_validation(
    task: RunnableTask,
    dataset: Any,
    run_dir: Path,
    options: FitOptions,
    *,
    plan_layers: tuple[dict[str, Any] | None, ...] = (),
    distributed: Distributed | None = None,
    score: Score,
) -> tuple[FitResult | None, dict[str, Any]]:
    """Train ``options.folds`` runs and summarise them; returns the first fold's result and the summary
    (``None`` and an empty summary on distributed ranks other than 0).

    With ``options.resume`` the folds saved in ``run_dir/cv.json`` are used as they are; options or data that would
    change them are refused (the fold models trained on them), as are fold folders that are not among them.

    Raises:
        RunFolderError: ``run_dir`` holds a cross-validation and ``options.resume`` is off, or a stray fold folder.
        ConfigError: resuming with ``--folds``, ``--seed`` or ``--test-fraction`` other than the saved ones.
        DatasetError: resuming on data whose images differ from the saved folds'.
    """
    dist = distributed or Distributed()
    folds = int(options.folds or 0)
    run = RunFolder(run_dir, writable=dist.is_main)
    cases = task.split_cases(dataset)
    saved = _saved_cross_validation(run, options)
    class_names = getattr(dataset, "class_names", None)
    folds_of = _saved_folds(run, saved, cases) if saved is not None else _new_folds(cases, options, class_names)
    _check_fold_folders(run, folds_of, folds)
    if saved is not None:
        plan_layers = _saved_plan_layers(run, folds, plan_layers)
    notes = [*_one_class_folds(cases, folds_of, folds, class_names), VAL_NOTE]
    record = {
        "folds": folds,
        "options": {name: getattr(options, name) for name in FOLD_OPTIONS},
        "splits": folds_of,
        "notes": notes,
    }
    dist.barrier()  # every process has read the saved cross-validation before rank 0 records this one
    run.write_json("cv.json", {**record, "complete": False, "per_fold": [], "mean": {}, "sd": {}, "n_folds": {}})
    first: FitResult | None = None
    rows: list[dict[str, Any]] = []
    for fold in range(folds):
        started = dist.broadcast((run_dir / f"fold_{fold}").exists())  # the folds after an interruption just start
        fit = fit_run(
            task,
            dataset,
            run_dir / f"fold_{fold}",
            options if started else options.model_copy(update={"resume": False}),
            plan_layers=plan_layers,
            splits=fold_splits(folds_of, fold),
            distributed=dist,
        )
        if fit is None:
            continue
        first = first or fit
        own = Splits.from_dict(RunFolder(fit.run_dir).read_json("splits.json"))  # the split this model trained with
        row: dict[str, Any] = {"fold": fold}
        for split in ("val", "test"):
            chosen = own.cases(dataset.cases, split)
            if chosen:
                row.update({f"{split}_{k}": v for k, v in score(fit, dataset, chosen, split).items()})
        rows.append(row)
    if not dist.is_main:
        return None, {}
    summary: dict[str, Any] = {**record, "complete": True, "per_fold": rows, **fold_statistics(rows)}
    pooled = _pooled_out_of_fold(run, folds)
    if pooled is not None:
        summary["pooled_val"] = pooled
    run.write_json("cv.json", summary)
    from medimg.evaluation.cv_report import CV_PAGE, cv_html
    from medimg.fileio import atomic_write_text

    atomic_write_text(run.file(CV_PAGE), cv_html(summary, run_name=run.path.name))
    return first, summary


def fold_statistics(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric of the folds' ``rows``: ``mean``, ``sd`` (ddof 1) and ``n_folds``, over the folds where it is
    defined (a number). With one such fold the sd is ``None``: the spread between folds is undefined there, and
    0 would read as folds that agree."""
    stats: dict[str, dict[str, Any]] = {"mean": {}, "sd": {}, "n_folds": {}}
    keys = dict.fromkeys(key for row in rows for key in row if key != "fold")
    for key in keys:
        values = [
            float(r[key])
            for r in rows
            if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool) and np.isfinite(r[key])
        ]
        if values:
            stats["mean"][key] = float(np.mean(values))
            stats["sd"][key] = float(np.std(values, ddof=1)) if len(values) > 1 else None
            stats["n_folds"][key] = len(values)
    return stats


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The cross-validation summary as printed: each metric's mean ± sd and over how many folds it is defined
    (a fold whose validation images hold one class has no ROC AUC...), then the notes."""
    folds = summary.get("folds") or len(summary.get("per_fold", []))
    lines = []
    for key, mean in summary["mean"].items():
        n = summary.get("n_folds", {}).get(key, folds)
        over = f"{n} folds" if n == folds else f"{n} of {folds} folds; undefined in the others"
        sd = summary["sd"].get(key)
        spread = f"± {sd:.4f} sd" if sd is not None else "(no sd: one fold)"  # a spread between folds, not a CI
        lines.append(f"{key:28s} {mean:.4f} {spread}  ({over})")
    pooled = summary.get("pooled_val")
    if pooled:
        values = ", ".join(f"{k} {v:.4f}" for k, v in pooled.items() if k != "n" and v is not None)
        lines.append(
            f"pooled out-of-fold validation ({pooled['n']} images, each predicted by the fold that did not train "
            f"on it): {values}"
        )
    lines.extend(f"note: {note}" for note in summary.get("notes", []))
    return lines


def _pooled_out_of_fold(run: RunFolder, folds: int) -> dict[str, Any] | None:
    """The headline metrics of every fold's validation predictions pooled (each image of train+val predicted once,
    by the fold model that did not train on it), with ``n``; ``None`` unless every fold wrote a single-label
    classification report of them (``fold_k/evaluations/cv-val/report.json``)."""
    from medimg.evaluation.metrics import classification_metrics
    from medimg.evaluation.report import CLASSIFICATION_HEADLINE

    rows: list[dict[str, Any]] = []
    for fold in range(folds):
        report = run.file(f"fold_{fold}/evaluations/cv-val/report.json")
        if not report.is_file():
            return None
        found = RunFolder(report.parent).read_json("report.json")
        if found.get("format") != "medimg.classification_report" or not found.get("predictions"):
            return None
        rows.extend(found["predictions"])
    names = list(rows[0].get("probabilities") or {}) if rows else []
    if not names or any(list(r.get("probabilities") or {}) != names or r.get("true_label") not in names for r in rows):
        return None
    y = np.array([names.index(r["true_label"]) for r in rows])
    p = np.array([[r["probabilities"][name] for name in names] for r in rows], dtype=float)
    metrics = classification_metrics(y, p, names)
    return {"n": len(rows), **{k: metrics.get(k) for k in CLASSIFICATION_HEADLINE if k in metrics}}


def fold_splits(folds_of: dict[str, Any], fold: int) -> Splits:
    """Fold ``fold``'s split: the test images, its validation fold, the other folds' images for training."""
    assignment = {case_id: "test" for case_id in folds_of["test"]}
    for k, members in enumerate(folds_of["folds"]):
        for case_id in members:
            assignment[case_id] = "val" if k == fold else "train"
    return Splits(assignment, f"{folds_of['method']}+{len(folds_of['folds'])}-fold[{fold}]", int(folds_of["seed"]))


def _new_folds(cases: Sequence[Any], options: FitOptions, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """The test split (as a plain run makes it) and the validation folds of the rest, by case id (``class_names``
    name the classes in the warnings about small ones)."""
    folds = int(options.folds or 0)
    base = make_splits(
        cases,
        val_fraction=options.val_fraction,
        test_fraction=options.test_fraction,
        seed=options.seed,
        class_names=class_names,
    )
    dev = [c for c in cases if base.assignment[c.case_id] != "test"]
    fold_of = kfold_assignments(dev, folds, seed=options.seed, class_names=class_names, held_out=len(cases) - len(dev))
    return {
        "method": base.method,
        "seed": options.seed,
        "test": [c.case_id for c in cases if base.assignment[c.case_id] == "test"],
        "folds": [[c.case_id for c, k in zip(dev, fold_of, strict=True) if k == fold] for fold in range(folds)],
    }


def _saved_cross_validation(run: RunFolder, options: FitOptions) -> dict[str, Any] | None:
    """The cross-validation ``run`` holds (``cv.json``), for ``--resume``; ``None`` for a new one.

    Raises:
        RunFolderError: there is one and ``options.resume`` is off.
        ConfigError: ``options`` would make other folds than the saved ones (each differing option named).
    """
    if not run.file("cv.json").is_file() or not _trained_any_fold(run):  # nothing trained yet: start afresh
        return None
    if not options.resume:
        raise RunFolderError(
            f"{run.path} already holds a cross-validation (cv.json); choose another --run-dir, or pass --resume to "
            "continue it"
        )
    saved = run.read_json("cv.json")
    given = {name: getattr(options, name) for name in FOLD_OPTIONS}
    before = dict(saved.get("options") or _options_of_first_fold(run, saved))
    changed = [
        f"--{name.replace('_', '-')} {given[name]} (saved {before[name]})"
        for name in FOLD_OPTIONS
        if name in before and before[name] != given[name]
    ]
    if changed:
        saved_options = " ".join(
            f"--{name.replace('_', '-')} {before[name]}" for name in FOLD_OPTIONS if name in before
        )
        raise ConfigError(
            f"--resume continues the cross-validation saved in {run.path} ({saved_options}): {', '.join(changed)} "
            "would give its folds other images than the fold models trained on; resume with the saved values, or "
            "choose a new --run-dir for a new cross-validation"
        )
    return dict(saved)


def _trained_any_fold(run: RunFolder) -> bool:
    """Whether a fold of ``run`` has trained (a checkpoint or a model): a cross-validation stopped before (a bad
    option refused in its first fold) holds nothing to keep."""
    return any(
        (fold / "checkpoints" / "last.pt").is_file() or (fold / "model.pt").is_file()
        for fold in run.path.glob("fold_*")
    )


def _saved_plan_layers(
    run: RunFolder, folds: int, given: tuple[dict[str, Any] | None, ...]
) -> tuple[dict[str, Any] | None, ...]:
    """The plan settings (``--epochs``, ``--set``, ``--config``) the resumed cross-validation's folds were planned
    with, for the folds still to train: with those given now they trained otherwise than the folds before the
    interruption (which keep their saved plans), and the mean over folds mixed two settings."""
    for fold in range(folds):
        config = run.file(f"fold_{fold}/config.json")
        if config.is_file():
            saved = RunFolder(config.parent).read_json("config.json").get("plan_overrides")
            if saved is None:  # a config.json written before it recorded them
                return given
            now = [layer for layer in given if layer]
            if now != saved:
                logger.warning(
                    "resuming the cross-validation with the settings its folds were planned with (%s); those given "
                    "now (%s) are not applied to the folds still to train either: each fold trains as planned",
                    _settings(saved),
                    _settings(now),
                )
            return tuple(saved)
    return given


def _settings(layers: Sequence[dict[str, Any]]) -> str:
    merged = {key: value for layer in layers for key, value in layer.items()}
    return ", ".join(f"{key}={value}" for key, value in merged.items()) or "none"


def _options_of_first_fold(run: RunFolder, saved: dict[str, Any]) -> dict[str, Any]:
    """The fold options of a cv.json written before it recorded them: its fold count and fold_0's settings."""
    found: dict[str, Any] = {"folds": saved.get("folds")}
    config = run.file("fold_0/config.json")
    if config.is_file():
        found.update(RunFolder(config.parent).read_json("config.json").get("options") or {})
    return {name: found[name] for name in FOLD_OPTIONS if found.get(name) is not None}


def _saved_folds(run: RunFolder, saved: dict[str, Any], cases: Sequence[Any]) -> dict[str, Any]:
    """The saved folds when the data's images are the ones they were made of.

    A ``cv.json`` written before the folds were recorded in it: the folds its options make of the data now, each
    checked against the fold's own ``splits.json``.

    Raises:
        DatasetError: images were added, removed or (an older cv.json) would land in another split.
    """
    folds_of = saved.get("splits")
    now = {c.case_id for c in cases}
    if folds_of is not None:
        before = {*folds_of["test"], *(case_id for members in folds_of["folds"] for case_id in members)}
        _refuse_changed_data(run, before, now, moved=[])
        return dict(folds_of)
    options = FitOptions(**{**_options_of_first_fold(run, saved), "resume": True})
    folds_of = _new_folds(cases, options)
    for fold in range(len(folds_of["folds"])):
        fold_run = RunFolder(run.file(f"fold_{fold}"))
        if not fold_run.file("splits.json").is_file():
            continue
        had = Splits.from_dict(fold_run.read_json("splits.json")).assignment
        made = fold_splits(folds_of, fold).assignment
        _refuse_changed_data(run, set(had), now, moved=sorted(k for k in had.keys() & made.keys() if had[k] != made[k]))
    return folds_of


def _refuse_changed_data(run: RunFolder, before: set[str], now: set[str], *, moved: list[str]) -> None:
    """Refuse to resume when the images differ from those the saved folds were made of."""
    added, gone = sorted(now - before), sorted(before - now)
    if not (added or gone or moved):
        return
    found = [
        f"{len(ids)} image(s) {what} (e.g. {ids[0]})"
        for ids, what in ((added, "new"), (gone, "gone"), (moved, "in another split now"))
        if ids
    ]
    raise DatasetError(
        f"--resume: the data changed since the cross-validation in {run.path} began: {', '.join(found)}; its fold "
        "models trained on the saved folds and are scored on them only: resume with the data as it was, or choose a "
        "new --run-dir to cross-validate the data as it is now"
    )


def _check_fold_folders(run: RunFolder, folds_of: dict[str, Any], folds: int) -> None:
    """Refuse fold folders beyond the cross-validation's folds (left by another ``--folds``): they are none of
    its folds and would be taken for one.

    Raises:
        RunFolderError: such a folder is there.
    """
    if not run.path.is_dir():
        return
    stray = sorted(
        p.name
        for p in run.path.glob("fold_*")
        if p.is_dir() and not (p.name[5:].isdigit() and int(p.name[5:]) < len(folds_of["folds"]))
    )
    if stray:
        raise RunFolderError(
            f"{run.path} holds {', '.join(stray)}, which is not one of the folds of its {folds}-fold "
            "cross-validation (left by another --folds): move it out of the folder, or choose a new --run-dir"
        )


def _one_class_folds(
    cases: Sequence[Any], folds_of: dict[str, Any], folds: int, class_names: Sequence[str] | None
) -> list[str]:
    """A warning (returned as a note, too) when some validation folds lack a class: their ROC AUC, sensitivity
    or specificity are undefined, and they chose their epoch without it."""
    stratum = {c.case_id: c.stratum for c in cases}
    classes = {stratum[case_id] for members in folds_of["folds"] for case_id in members if case_id in stratum}
    if len(classes) < 2:  # unlabelled strata (segmentation): nothing to lack
        return []
    short = [
        k
        for k, members in enumerate(folds_of["folds"])
        if {stratum[case_id] for case_id in members if case_id in stratum} != classes
    ]
    if not short:
        return []
    in_folds = {case_id for members in folds_of["folds"] for case_id in members}
    groups: dict[int, set[str]] = {}
    for c in cases:
        if c.case_id in in_folds:
            groups.setdefault(c.stratum, set()).add(c.patient_id or c.case_id)
    smallest, n = min(((s, len(g)) for s, g in groups.items()), key=lambda item: item[1])
    name = class_names[smallest] if class_names and 0 <= smallest < len(class_names) else str(smallest)
    lacking = (
        "those folds have no ROC AUC (nor sensitivity or specificity for the class they lack)"
        if len(classes) == 2
        # a macro ROC AUC averages over the classes present: defined, but over fewer classes than the other folds'
        else "those folds' val ROC AUC averages over the classes they hold only (not comparable with the other "
        "folds'), they have no sensitivity or F1 for the class they lack,"
    )
    note = (
        f"{len(short)} of the {folds} validation folds ({', '.join(f'fold_{k}' for k in short)}) lack a class: "
        f"the smallest class, "
        f"{name!r}, has {n} patients/images outside the test split, fewer than --folds {folds}; {lacking} and chose "
        f"their epoch without it: use --folds {n} or fewer"
    )
    logger.warning(note)
    return [note]
