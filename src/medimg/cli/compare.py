"""``medimg compare``: train several models (deep and classical) on the same splits and compare them.

Writes ``OUT/<model>/`` run folders and ``OUT/comparison.{json,csv,md,html}``: every metric with bootstrap
95% CIs, paired tests (DeLong and paired bootstrap on the AUC, paired bootstrap on the accuracy) of the pairs
named with ``--pair A,B``, by default of the two models with the highest test AUC (said to be chosen on the test
set), training time and inference time per image. Intervals and tests count patients when the data name them.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from medimg.cli.options import Exclude, Include, LabelColumn

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command(name="compare")(compare)


def compare(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="folder, CSV manifest or MedMNIST .npz")],
    models: Annotated[
        str, typer.Option(help="comma-separated models: networks (simple-cnn, resnet18...) and classical ones")
    ] = "simple-cnn,random-forest,svm",
    out: Annotated[Path | None, typer.Option(help="output folder (default runs/compare/<dataset>)")] = None,
    features: Annotated[str, typer.Option(help="features of the classical models")] = "handcrafted",
    masks: Annotated[
        str | None, typer.Option(help="masks for the classical models: 'herlev' or a pattern like '{stem}_mask.png'")
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            help="merge classes: NAME=PATTERN[|PATTERN], repeatable, first match wins, e.g. "
            "--group 'normal=normal_*' --group 'abnormal=*' (the Herlev 2-class task)"
        ),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(help="published result row, e.g. 'auto-sklearn:accuracy=0.855,roc_auc=0.942' (repeatable)"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs of the deep models (default: planned)")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="plan field of the deep models, e.g. input_size=64")
    ] = None,
    cv_folds: Annotated[int, typer.Option(help="CV folds of the classical models' search")] = 5,
    n_jobs: Annotated[int, typer.Option(help="workers for feature extraction and the classical search")] = 2,
    seed: Annotated[int, typer.Option(help="seed of the split and of every model")] = 0,
    val_fraction: Annotated[float, typer.Option(help="validation share when the data has no split")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="test share when the data has no split")] = 0.15,
    include: Include = None,
    exclude: Exclude = None,
    label_column: LabelColumn = None,
    timing_images: Annotated[int, typer.Option(help="test images timed for the inference time")] = 200,
    n_resamples: Annotated[int, typer.Option(help="bootstrap resamples")] = 1000,
    pair: Annotated[
        list[str] | None,
        typer.Option(
            help="two models to test against each other, A,B (repeatable), e.g. --pair simple-cnn,random-forest; "
            "default: the two with the highest test ROC AUC (chosen on the test set, which the p-values do not "
            "adjust for)"
        ),
    ] = None,
    reuse: Annotated[bool, typer.Option(help="reuse finished run folders in OUT instead of refusing")] = False,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Train each model on the same splits; one table and one HTML page with CIs and a paired test."""
    from medimg.cli.set_twins import flags_or_set
    from medimg.config import parse_assignments
    from medimg.data.dataset import Dataset
    from medimg.errors import ConfigError
    from medimg.evaluation.comparison import to_markdown, write_comparison

    names = [m.strip() for m in models.split(",") if m.strip()]
    if len(set(names)) != len(names) or not names:
        raise ConfigError(f"--models {models!r}: name each model once")
    from medimg.data.layouts import TASK_WORDS
    from medimg.errors import OtherTaskDataError

    try:
        dataset = Dataset.load(data, task="classify", include=include, exclude=exclude, label_column=label_column)
    except OtherTaskDataError as error:  # its advice, --task, is no option of compare
        raise ConfigError(
            f"{data} is {TASK_WORDS.get(error.found_task, error.found_task)} data ({error.found}): medimg compare "
            "compares classifiers (networks and classical models) on one split; train and score each model with "
            f"medimg fit DATA --task {error.found_task} --network NAME, then compare their reports"
        ) from error
    if dataset.multi_label:
        raise ConfigError(
            f"{dataset.root} lists several findings per image: compare's table and paired test are single-label; "
            "train and evaluate a multi-label model with medimg fit"
        )
    target = out or Path("runs") / "compare" / dataset.name
    if (target / "comparison.json").is_file() and not reuse:  # a finished comparison is never overwritten
        raise ConfigError(
            f"{target} already holds a comparison (comparison.json): choose another --out, or pass --reuse to "
            "reuse its finished runs and train only the models it lacks"
        )
    deep_overrides: dict[str, Any] = parse_assignments(set_)
    given = flags_or_set(  # --epochs 3 --set epochs=5 trained 3 epochs silently; --set seed=3 lost to --seed's 0
        ctx,
        deep_overrides,
        {
            "epochs": ("epochs", epochs),
            "seed": ("seed", seed),
            "val_fraction": ("val_fraction", val_fraction),
            "test_fraction": ("test_fraction", test_fraction),
        },
    )
    seed, val_fraction, test_fraction = given["seed"], given["val_fraction"], given["test_fraction"]
    if given["epochs"] is not None:
        deep_overrides["epochs"] = given["epochs"]
    classical = {"features": features, "masks": masks, "cv_folds": cv_folds, "n_jobs": n_jobs}
    for name in names:  # every name checked before the first model trains (a typo would cost the runs before it)
        _model_for(name, classical, deep_overrides)
    pairs = [parse_pair(text, names) for text in pair or []]
    target.mkdir(parents=True, exist_ok=True)
    if group:
        manifest = write_grouped_manifest(dataset, group, target / f"{dataset.name}-grouped.csv")
        dataset = Dataset.load(manifest, task="classify")
    rows, predictions, assignments = [], {}, {}
    for name in names:
        row, preds, assignment = _fit_one(
            name,
            dataset,
            target / name,
            classical=classical,
            deep=deep_overrides,
            fit_options={
                "seed": seed,
                "val_fraction": val_fraction,
                "test_fraction": test_fraction,
                "progress": progress,
            },
            timing_images=timing_images,
            reuse=reuse,
            n_resamples=n_resamples,
        )
        rows.append(row)
        predictions[name] = preds
        assignments[name] = assignment
        took = "reused its finished run" if row.fit_wall_s is None else f"{row.fit_wall_s:.0f} s"  # --reuse
        typer.echo(f"{name}: done ({took})", err=True)
    first = names[0]
    for name in names[1:]:
        if assignments[name] != assignments[first]:
            raise ConfigError(f"{name} was trained on other splits than {first}: rerun without --reuse")
    paired = paired_tests(
        rows, predictions, dataset.class_names, n_resamples=max(n_resamples, 2000), seed=seed, pairs=pairs
    )
    rows += [parse_reference(r) for r in reference or []]
    used = len(assignments[first])  # the cases split: what the check left of the data (blank files, conflicts)
    left_out = (
        f"; {len(dataset.cases) - used} left out, see each run's dataset.json" if used != len(dataset.cases) else ""
    )
    notes = [
        f"dataset: {dataset.root} ({used} images{left_out}; classes: {', '.join(dataset.class_names)})",
        f"split seed {seed}; test images: " + ", ".join(f"{r.model}={r.n_test}" for r in rows if not r.reference),
        f"classical features: {features}" + (f", masks: {masks}" if masks else ""),
        "published rows are copied from their papers (same official split where stated), without intervals",
        _population_note(rows),
        *dict.fromkeys(t["chosen"] for t in paired),
    ]
    paths = write_comparison(
        rows,
        paired,
        target,
        title=f"Model comparison: {dataset.name}",
        notes=notes,
        extra={"data": str(dataset.root), "models": names, "seed": seed},
        classes=dataset.class_names,
    )
    typer.echo(to_markdown(rows, dataset.class_names))
    for chosen in dict.fromkeys(t["chosen"] for t in paired):
        typer.echo(chosen)
    for test in paired:
        p = "-" if test["p_value"] is None else f"{test['p_value']:.4f}"
        typer.echo(
            f"{test['method']} {test['metric']}: {test['model_a']} - {test['model_b']} = {test['difference']:+.4f}"
            f" (95% CI {_fmt(test['low'])} to {_fmt(test['high'])}), p = {p}"
        )
    typer.echo(f"table: {paths['csv']}\npage:  {paths['html']}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def write_grouped_manifest(dataset: Any, groups: list[str], path: Path) -> Path:
    """A CSV manifest of ``dataset`` with classes merged by ``NAME=PATTERN[|PATTERN]`` rules.

    Raises:
        ConfigError: a malformed rule, a class no rule matches, or fewer than two groups.
    """
    import csv

    from medimg.errors import ConfigError
    from medimg.fileio import atomic_write_text

    rules: list[tuple[str, list[str]]] = []
    for item in groups:
        name, sep, patterns = item.partition("=")
        if not sep or not name.strip() or not patterns.strip():
            raise ConfigError(f"--group {item!r}: expected NAME=PATTERN[|PATTERN], e.g. 'normal=normal_*'")
        rules.append((name.strip(), [p.strip() for p in patterns.split("|") if p.strip()]))
    mapping = {}
    for cls in dataset.class_names:
        match = next((n for n, pats in rules if any(fnmatch.fnmatch(cls, p) for p in pats)), None)
        if match is None:
            raise ConfigError(f"class {cls!r} matches no --group rule; add a catch-all such as 'other=*'")
        mapping[cls] = match
    if len(set(mapping.values())) < 2:
        raise ConfigError(f"--group rules merge every class into one ({mapping}); a classifier needs two")
    buffer = [["path", "label", "patient_id", "split"]]
    for case in dataset.cases:
        if case.path is None or case.label is None:
            raise ConfigError("--group needs a file-backed dataset (folders or CSV)")
        buffer.append(
            [
                str(Path(case.path).resolve()),
                mapping[dataset.class_names[case.label]],
                case.patient_id or "",
                case.split or "",
            ]
        )
    import io

    text = io.StringIO()
    csv.writer(text).writerows(buffer)
    atomic_write_text(path, text.getvalue())
    logger.info("class groups %s written to %s", mapping, path)
    return path


def parse_pair(text: str, names: list[str]) -> tuple[str, str]:
    """``'simple-cnn,random-forest'`` -> the two ``--models`` names to test against each other.

    Raises:
        ConfigError: not two different names of ``--models``.
    """
    from medimg.errors import ConfigError, did_you_mean

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2 or parts[0] == parts[1]:
        raise ConfigError(f"--pair {text!r}: name two different models, A,B (e.g. --pair {','.join(names[:2])})")
    for part in parts:
        if part not in names:
            raise ConfigError(
                f"--pair {text!r}: {part!r} is not one of --models {','.join(names)}.{did_you_mean(part, names)}"
            )
    return parts[0], parts[1]


def _population_note(rows: list[Any]) -> str:
    """What the intervals and paired tests count as independent (the test split is the same for every model)."""
    from medimg.evaluation.report import population_text

    row = next((r for r in rows if not r.reference), None)
    if row is None:
        return ""
    unit = next((e.get("unit") for e in row.metrics.values() if isinstance(e, dict) and e.get("unit")), None)
    metrics = {"n": row.n_test, "n_patients": row.extra.get("n_patients")}
    return "test set: " + population_text(metrics, unit, brief=True)


def parse_reference(text: str) -> Any:
    """``'auto-sklearn:accuracy=0.855,roc_auc=0.942'`` -> a reference :class:`ComparisonRow`."""
    from medimg.errors import ConfigError
    from medimg.evaluation.comparison import ComparisonRow

    name, sep, rest = text.partition(":")
    metrics = {}
    try:
        for item in rest.split(","):
            key, _, value = item.partition("=")
            metrics[key.strip()] = {"value": float(value), "low": None, "high": None}
    except ValueError as error:
        raise ConfigError(f"--reference {text!r}: expected NAME:metric=value,...") from error
    if not sep or not name.strip():
        raise ConfigError(f"--reference {text!r}: expected NAME:metric=value,...")
    return ComparisonRow(model=name.strip(), family="published", features="", n_test=0, metrics=metrics, reference=True)


def _model_for(name: str, classical: dict[str, Any], deep: dict[str, Any]) -> Any:
    """The untrained model of a ``--models`` name (raises ``ConfigError`` for an unknown one)."""
    from medimg.model import CLASSICAL_MODELS, Model

    return Model(name, **(classical if name.lower() in CLASSICAL_MODELS else deep))


def _saved_record(run: Any, file: str) -> dict[str, Any] | None:
    """A run's JSON record, or ``None`` for an older or damaged run (nothing to compare with)."""
    try:
        record = run.read_json(file)
    except Exception:
        return None
    return record if isinstance(record, dict) else None


#: the options of a run's split, compared before reusing it (``--seed 1 --reuse`` kept seed 0's test images)
SPLIT_OPTIONS = ("seed", "val_fraction", "test_fraction")


def _refuse_other_settings(
    name: str, run: Any, classical: dict[str, Any] | None, deep: dict[str, Any], split: dict[str, Any]
) -> None:
    """Refuse to reuse the finished run of model ``name`` when it was trained with other settings than this
    command asks for (``--features``, ``--masks``, ``--cv-folds``; ``--epochs``, ``--set``; ``--seed``,
    ``--val-fraction``, ``--test-fraction``, ``split``): its row would be labelled with the new settings (the page's
    "classical features: ...", "split seed 1") while showing the old ones' scores.

    Raises:
        ConfigError: a setting differs (the message names it and the way out).
    """
    config = _saved_record(run, "config.json")
    if config is None:
        return
    if classical is not None:
        saved = config.get("classical") or {}
        asked = {key: classical.get(key) for key in ("features", "masks", "cv_folds")}
        trained = {key: saved.get(key) for key in asked}
    else:
        merged: dict[str, Any] = {}
        for layer in config.get("plan_overrides") or []:
            merged.update(layer or {})
        merged.pop("network", None)
        trained = json.loads(json.dumps(merged, default=str))
        asked = json.loads(json.dumps(deep, default=str))
    options = config.get("options") or {}
    asked.update({key: split.get(key) for key in SPLIT_OPTIONS})
    trained.update({key: options.get(key, split.get(key)) for key in SPLIT_OPTIONS})  # an older run: not saved
    keys = sorted(set(asked) | set(trained))
    fix = ", or give the settings it was trained with"
    _refuse_differing(name, run, "with other settings", "this command's settings", trained, asked, keys, fix)


#: what a run's ``dataset.json`` says of its data that a reused run must share with the data compared now
DATA_FACTS = ("num_cases", "class_names", "class_counts", "split_counts")


def _refuse_other_data(name: str, run: Any, dataset: Any) -> None:
    """Refuse to reuse the finished run of model ``name`` when it was trained on other data than this command's
    (images added or removed since: its scores and test split are the old data's, shown under the new).

    Raises:
        ConfigError: the counts differ (the message names them and the way out).
    """
    saved = _saved_record(run, "dataset.json")
    if saved is None:
        return
    now = json.loads(json.dumps(dataset.describe(), default=str))
    _refuse_differing(name, run, "on other data", "this data", saved, now, [k for k in DATA_FACTS if k in saved])


def _refuse_differing(
    name: str,
    run: Any,
    how: str,
    ours: str,
    trained: dict[str, Any],
    asked: dict[str, Any],
    keys: list[str],
    fix: str = "",
) -> None:
    """Raise when ``trained`` and ``asked`` differ at any of ``keys``, naming each (``how`` the run was trained,
    ``ours``: what its scores are not of, ``fix``: a way out besides rerunning).

    Raises:
        ConfigError: they differ (the message names the values and the way out).
    """
    from medimg.errors import ConfigError

    differ = [key for key in keys if asked.get(key) != trained.get(key)]
    if differ:
        shown = ", ".join(f"{key} {trained.get(key)!r}, not {asked.get(key)!r}" for key in differ)
        raise ConfigError(
            f"--reuse: {run.path} ({name}) was trained {how} ({shown}): its scores are not those of {ours}; rerun "
            f"without --reuse into another --out{fix}"
        )


def _fit_one(
    name: str,
    dataset: Any,
    run_dir: Path,
    *,
    classical: dict[str, Any],
    deep: dict[str, Any],
    fit_options: dict[str, Any],
    timing_images: int,
    reuse: bool,
    n_resamples: int = 1000,
) -> tuple[Any, dict[str, Any], dict[str, str]]:
    from medimg.evaluation.comparison import ComparisonRow
    from medimg.evaluation.report import ClassificationReport
    from medimg.model import CLASSICAL_MODELS, Model
    from medimg.run_folder import RunFolder

    is_classical = name.lower() in CLASSICAL_MODELS
    run = RunFolder(run_dir)
    started = time.perf_counter()
    if reuse and run.file("report/report.json").is_file() and run.file("metadata.json").is_file():
        _refuse_other_settings(name, run, classical if is_classical else None, deep, fit_options)
        _refuse_other_data(name, run, dataset)
        model = Model.load(run_dir)
        fit_wall = None
    else:
        model = _model_for(name, classical, deep)
        model.fit(dataset, run_dir=run_dir, **fit_options)
        fit_wall = time.perf_counter() - started
        model = Model.load(run_dir)
    report = ClassificationReport.from_json(run.file("report/report.json"))
    metadata = run.read_json("metadata.json")
    training = metadata.get("training", {})
    infer_ms = _inference_ms(model, dataset, run, timing_images, is_classical)
    row = ComparisonRow(
        model=name,
        family="classical" if is_classical else "deep",
        features=str(metadata.get("features", "")) if is_classical else "image (CNN)",
        n_test=int(report.metrics.get("n", 0)),
        metrics=row_intervals(report, n_resamples),
        train_time_s=training.get("train_time_s"),
        fit_wall_s=fit_wall,
        inference_ms_per_image=infer_ms,
        run_dir=str(run.path),
        extra={
            "best_params": training.get("best_params"),
            "report": str(run.file("report/report.html")),
            "n_patients": report.metrics.get("n_patients"),
        },
    )
    preds = {p["case_id"]: p for p in report.predictions or []}
    return row, preds, run.read_json("splits.json")["assignment"]


def row_intervals(report: Any, n_resamples: int) -> dict[str, dict[str, Any]]:
    """A model's row of the table: its test report's metrics with their 95% intervals, the bootstrapped ones
    (F1, a multi-class AUC) redrawn with ``n_resamples`` (``--n-resamples``) when the fit's report used another
    count (the fit's own report always bootstraps 1000 times: the option was left unused there)."""
    from medimg.evaluation.report import build_classification_report

    intervals: dict[str, dict[str, Any]] = report.confidence_intervals
    drawn = {entry.get("n_resamples") for entry in intervals.values() if isinstance(entry, dict)}
    predictions = report.predictions or []
    if drawn <= {None, n_resamples} or not predictions:
        return intervals
    names = [str(n) for n in report.metrics.get("class_names") or list(predictions[0]["probabilities"])]
    patients = [p.get("patient_id") for p in predictions]
    redrawn = build_classification_report(
        [names.index(p["true_label"]) for p in predictions],
        [[p["probabilities"][n] for n in names] for p in predictions],
        names,
        split=report.split,
        model_name=report.model_name,
        dataset_name=report.dataset_name,
        case_ids=[p["case_id"] for p in predictions],
        patient_ids=patients if any(p is not None for p in patients) else None,
        n_resamples=n_resamples,
    )
    return dict(redrawn.confidence_intervals)


def _inference_ms(model: Any, dataset: Any, run: Any, limit: int, is_classical: bool) -> float | None:
    """Milliseconds per test image for read + preprocess/extract + predict, in one process."""
    from medimg.data.splits import Splits, cases_for

    cases = cases_for(dataset, Splits.from_dict(run.read_json("splits.json")), "test")[: max(1, limit)]
    if not cases:
        return None
    started = time.perf_counter()
    if is_classical:
        from medimg.classical.pipelines import predict_proba_full
        from medimg.features.extract import FeatureExtractor

        extractor = FeatureExtractor(model.extractor_.features, masks=model.extractor_.masks, n_jobs=1)
        extractor.union_ = model.extractor_.union_
        matrix = extractor.extract(dataset, cases)
        predict_proba_full(model.estimator_, matrix.X, len(model.class_names_))
        n = len(matrix.case_ids)
    else:
        from medimg.tasks.classify.data import prepare_split
        from medimg.tasks.classify.inference import predict_proba

        prepared = prepare_split(dataset, cases, model.plan_, progress=False)
        predict_proba(model.network_, prepared.x, model.plan_)
        n = len(prepared)
    return 1000 * (time.perf_counter() - started) / max(1, n)


def paired_tests(
    rows: list[Any],
    predictions: dict[str, dict[str, Any]],
    class_names: list[str],
    *,
    n_resamples: int,
    seed: int,
    pairs: list[tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Paired tests (DeLong for a binary task, paired bootstrap of the AUC and the accuracy) of each pair in
    ``pairs``, by default of the two models with the highest test ROC AUC (accuracy when AUC is missing).

    Each result names its models and says how the pair was chosen (``"chosen"``): a pair picked because it
    looked best on the test cases is then tested on those same cases, which the p-value does not adjust for.
    When the cases name their patients (``patient_id`` in the predictions) the tests resample patients
    (clustered DeLong, cluster bootstrap).
    """
    import numpy as np

    from medimg.evaluation.paired import delong_test, paired_bootstrap

    def score(row: Any) -> float:
        for metric in ("roc_auc", "accuracy"):
            value = (row.metrics.get(metric) or {}).get("value")
            if value is not None:
                return float(value)
        return float("-inf")

    if pairs:
        chosen = "paired tests of the pairs named with --pair"
    else:
        ranked = sorted((r for r in rows if not r.reference), key=score, reverse=True)
        if len(ranked) < 2:
            return []
        pairs = [(ranked[0].model, ranked[1].model)]
        chosen = (
            f"paired test of the two models with the highest test ROC AUC ({pairs[0][0]}, {pairs[0][1]}): the pair "
            "was chosen on the same test cases it is tested on, which the p-values do not adjust for; name the "
            "comparison you planned with --pair A,B"
        )
    index = {n: i for i, n in enumerate(class_names)}
    results = []
    for a, b in pairs:
        common = [c for c in predictions[a] if c in predictions[b]]
        if not common:
            continue
        unpaired = len(predictions[a]) + len(predictions[b]) - 2 * len(common)
        if unpaired:  # a test image one model could not score: the tests pair the images both scored
            logger.warning(
                "paired tests of %s and %s: %d test image(s) were scored by only one of them; the tests pair the %d "
                "both scored, so their values can differ from the table's",
                a,
                b,
                unpaired,
                len(common),
            )
        y = np.array([index[predictions[a][c]["true_label"]] for c in common])
        pa = np.array([[predictions[a][c]["probabilities"][n] for n in class_names] for c in common])
        pb = np.array([[predictions[b][c]["probabilities"][n] for n in class_names] for c in common])
        patients = [predictions[a][c].get("patient_id") for c in common]
        groups = patients if any(p is not None for p in patients) else None
        tests = []
        if len(class_names) == 2 and len(set(y.tolist())) == 2:
            tests.append(delong_test(y, pa[:, 1], pb[:, 1], groups=groups).to_dict())
        for metric in ("roc_auc", "accuracy"):
            tests.append(
                paired_bootstrap(y, pa, pb, metric=metric, n_resamples=n_resamples, seed=seed, groups=groups).to_dict()
            )
        for t in tests:
            t.update(model_a=a, model_b=b, chosen=chosen)
            t["details"]["unpaired_images"] = unpaired
        results += tests
    return results
