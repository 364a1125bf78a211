"""The ``medimg`` command line: thin wrappers over the Python API. Heavy imports happen inside commands."""

from __future__ import annotations

import sys

#: what Ctrl-C says while medimg is still starting (its imports take seconds): no command ran yet
STARTING_INTERRUPTED = "interrupted while medimg was starting: nothing was done; run the command again"

try:  # Ctrl-C during the imports: one line, not the traceback of whichever import it landed in
    import json
    import logging
    import re
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path
    from typing import TYPE_CHECKING, Annotated, Any

    import typer

    from medimg.cli.options import Exclude, Include, LabelColumn, Progress
    from medimg.cli.set_twins import flags_or_set
    from medimg.config import FitOptions
    from medimg.explain.methods import EXPLAIN_METHODS
    from medimg.planning.plan import plan_field_help
except KeyboardInterrupt:
    sys.stderr.write(STARTING_INTERRUPTED + "\n")
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from medimg.data.quality import CheckReport

app = typer.Typer(
    name="medimg",
    help="Deep-learning medical image analysis: check, plan, fit, evaluate and predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # `-h` too, as scikit-learn's and most tools' CLIs
)

Window = Annotated[
    str | None,
    typer.Option(
        help="intensity window: a CT preset (lung, soft-tissue, brain, bone, ...: CT only), 'file' (the file's "
        "own), or 'C,W'; without it non-CT DICOM is mapped to 0..255 by its own window"
    ),
]
Strict = Annotated[
    bool, typer.Option(help="refuse inputs outside the model's training domain (exit 1) instead of warning")
]
Threads = Annotated[int | None, typer.Option(help="CPU threads for inference (default: the library's choice)")]
Scale = Annotated[
    float | None,
    typer.Option(
        help="segmentation: resize every input by this factor before the network, e.g. 0.5 for images at twice "
        "the training resolution (masks come back at the input's size; 3D volumes are resampled by their spacing)"
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="override any plan field, e.g. --set epochs=5 --set augmentation.rotate_deg=0. Fields: "
        + ", ".join(plan_field_help()),
    ),
]


def _print_version(value: bool) -> None:
    if value:
        import platform

        import medimg

        typer.echo(f"medimg {medimg.__version__} (Python {platform.python_version()})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print medimg's version and exit"),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="only warnings and errors on stderr, no progress bars or lines (before the command: medimg -q fit)",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="also medimg's debug messages on stderr (medimg -v fit ...)")
    ] = False,
) -> None:
    """Deep-learning medical image analysis: check, plan, fit, evaluate and predict."""
    from medimg.terminal import set_bars, set_quiet

    set_quiet(quiet)  # no progress bars either
    set_bars(True)  # until a command's --no-progress
    medimg_logger = logging.getLogger("medimg")
    if quiet:
        medimg_logger.setLevel(logging.WARNING)
    elif verbose and medimg_logger.getEffectiveLevel() <= logging.INFO:  # not on a distributed run's other ranks
        medimg_logger.setLevel(logging.DEBUG)


#: root options a newcomer puts after the command (`medimg fit data -q`), as other tools take them
ROOT_OPTIONS = ("-q", "--quiet", "-v", "--verbose", "--version")


def _examples(*commands: str) -> str:
    """A command's ``--help`` epilog: commands to copy, one a line (``\\b`` keeps click from joining them)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {command}" for command in commands)


EXAMPLES = {
    "check": _examples("medimg check data/", "medimg check data.csv --json report.json"),
    "plan": _examples("medimg plan data/ --out plan", "medimg fit data/ --config plan/plan.json"),
    "fit": _examples(
        "medimg fit data/                      # one sub-folder per class",
        "medimg fit data/ --network resnet18 --epochs 20",
        "medimg fit data/ --set time_budget_s=600 --run-dir runs/first",
        "medimg fit data/ --folds 5",
    ),
    "evaluate": _examples("medimg evaluate runs/data/exp1", "medimg evaluate runs/data/exp1 other_hospital/"),
    "predict": _examples(
        "medimg predict runs/data/exp1 scan.dcm",
        "medimg predict runs/data/exp1 images/ --out predictions.csv",
        "medimg predict runs/data/exp1 images/ --explain --out predictions.json",
    ),
}


def _help(field: str) -> str:
    """The description of a FitOptions field: CLI help and the Python API share one text."""
    return FitOptions.model_fields[field].description or ""


def _window(value: str | None) -> str | tuple[float, float] | None:
    if value and "," in value:
        from medimg.errors import ConfigError

        try:
            center, width = (float(v) for v in value.split(","))
        except ValueError as error:
            raise ConfigError(f"--window {value!r}: expected a preset name or CENTER,WIDTH") from error
        return center, width
    return value


def _echo(text: str) -> None:
    typer.echo(text)


def _set_threads(threads: int | None) -> None:
    """Torch CPU threads for inference, when asked."""
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))


@app.command(
    epilog=EXAMPLES["check"],
    short_help="Count classes and splits; find unreadable, blank and duplicated images and label conflicts (exit 1 "
    "when problems are found).",
)
def check(
    data: Annotated[Path, typer.Argument(help="folder, CSV manifest or MedMNIST .npz")],
    include: Include = None,
    exclude: Exclude = None,
    window: Window = None,
    label_column: LabelColumn = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here ('-': standard output)")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="read the data for this task (detect: boxes from an image/mask dataset's masks)"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="a data option, as fit takes it: colour_table=herlev (or a JSON file) for colour-coded masks, "
            "rle_order=F|C for run-length masks",
        ),
    ] = None,
    progress: Progress = True,
) -> None:
    """Count classes and splits, and find unreadable, blank and duplicated (or nearly identical) images (also
    across splits) and label conflicts (image/mask pairs: sizes, spacings, mask values and the classes fit will make
    of them, cases per class, size mismatches, masks without an image, empty masks); exits 1 when problems are
    found. A folder holding DICOM also gets its series listed (modality, slices, size, spacing, orientation,
    patients by hashed ID), with a warning on mixed modalities."""
    from medimg.data.dataset import Dataset
    from medimg.data.quality import check_dataset
    from medimg.fileio import atomic_write_json, dumps_json
    from medimg.io.dicom_survey import survey_dicom
    from medimg.terminal import set_bars

    set_bars(progress)

    to_stdout = json_out is not None and str(json_out) == "-"  # the JSON alone on stdout: the summary to stderr

    def say(text: str) -> None:
        typer.echo(text, err=to_stdout)

    survey = survey_dicom(data)
    if survey.series:
        say(survey.summary())
    load = Dataset.load
    options: dict[str, Any] = {"include": include, "exclude": exclude, "window": _window(window)}
    options |= _check_data_options(set_)
    found = load(data, task=task, label_column=label_column, **options)  # type: ignore[arg-type]
    report: Any
    if isinstance(found, Dataset):
        report = check_dataset(found, progress=True)
    else:  # image/mask pairs
        from medimg.tasks.segment.quality import check_segmentation

        report = check_segmentation(found, progress=True)
    say(report.summary())
    extra: dict[str, Any] = {"dicom": survey.to_dict()} if survey.series else {}
    if isinstance(found, Dataset) and found.task == "detect":  # boxes per class: sizes, per image, out of bounds
        from medimg.data.detection import DetectionDataset, box_statistics

        assert isinstance(found, DetectionDataset)
        extra["boxes"] = box_statistics(found).to_dict()
        say(box_statistics(found).summary())
    if to_stdout:  # Unix's "standard output" (it wrote a file named '-')
        typer.echo(dumps_json({**report.to_dict(), **extra}))
    elif json_out:
        atomic_write_json(json_out, {**report.to_dict(), **extra})
        _echo(f"JSON report: {json_out}")
    if not report.ok:
        raise typer.Exit(1)  # problems found: scripts and CI can stop here


def _check_data_options(items: list[str] | None) -> dict[str, Any]:
    """``check --set`` assignments: the tasks' data options (:attr:`Task.data_options`) that fit's ``--set`` takes
    too (a colour table for colour-coded masks, which ``check`` suggested and then had no option for), but
    ``label_column``, check's own ``--label-column``; the tasks are imported only when ``--set`` is given.

    Raises:
        ConfigError: another field (a plan field, which only fit and plan take).
    """
    from medimg.config import parse_assignments
    from medimg.errors import ConfigError
    from medimg.tasks.registry import get_task, list_tasks

    given = parse_assignments(items)
    if not given:
        return given
    taken = sorted({o for name in list_tasks() for o in get_task(name).data_options} - {"label_column"})
    others = sorted(set(given) - set(taken))
    if others:
        raise ConfigError(
            f"check --set takes the data options {', '.join(taken)} only, not {', '.join(others)} "
            "(plan fields: medimg plan/fit --set)"
        )
    return given


@app.command(epilog=EXAMPLES["plan"])
def plan(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="folder, CSV manifest or MedMNIST .npz")],
    out: Annotated[Path, typer.Option(help="folder for fingerprint.json and plan.json")] = Path("plan"),
    include: Include = None,
    exclude: Exclude = None,
    window: Window = None,
    label_column: LabelColumn = None,
    config: Annotated[Path | None, typer.Option(help="JSON file of plan fields")] = None,
    set_: SetOption = None,
    seed: Annotated[int, typer.Option(help=_help("seed"))] = 0,
    task: Annotated[str, typer.Option(help="classify, segment or detect; auto: what the data holds")] = "auto",
    train_on_all: Annotated[bool, typer.Option(help=_help("train_on_all"))] = False,
    val_fraction: Annotated[float, typer.Option(help=_help("val_fraction"))] = 0.15,
    test_fraction: Annotated[float, typer.Option(help=_help("test_fraction"))] = 0.15,
) -> None:
    """Fingerprint the training split and print the plan the planner chooses (and why), as `fit` would."""
    from medimg.config import FitOptions, check_overrides, parse_assignments, read_config_file
    from medimg.data.quality import usable_training_images
    from medimg.engine.run import plan_run
    from medimg.fileio import atomic_write_json
    from medimg.tasks.registry import get_task

    chosen_task = get_task(_data_task(task, data, label_column))
    overrides = parse_assignments(set_)
    run_options = flags_or_set(  # the split options fit takes, as fit takes them
        ctx,
        overrides,
        {
            "seed": ("seed", seed),
            "train_on_all": ("train_on_all", train_on_all),
            "val_fraction": ("val_fraction", val_fraction),
            "test_fraction": ("test_fraction", test_fraction),
        },
    )
    check_overrides(chosen_task.plan_type, run_options, tuple(run_options))  # --test-fraction 1.5, one line
    check_overrides(chosen_task.plan_type, overrides)
    layers = (read_config_file(config) if config else None, overrides)  # before the data are read
    options = {"include": include, "exclude": exclude, "window": _window(window), "label_column": label_column}
    dataset = chosen_task.load_dataset(data, **{k: v for k, v in options.items() if v is not None})
    # the images fit trains on: not the masks, blank files or conflicting copies stored among a class's images
    fractions: dict[str, Any] = {
        k: run_options[k] for k in ("val_fraction", "test_fraction", "seed") if k in run_options
    }
    dataset = usable_training_images(dataset, split_options=fractions)
    fingerprint, chosen = plan_run(chosen_task, dataset, FitOptions(**run_options), layers)
    _refuse_edited_plan(out, chosen.model_dump())
    atomic_write_json(out / "fingerprint.json", fingerprint.model_dump())
    atomic_write_json(out / "plan.json", chosen.model_dump())
    for key, value in chosen.model_dump().items():
        if key != "reasons":
            reason = chosen.reasons.get(key, "")
            _echo(f"{key:24s} {json.dumps(value)}" + (f"   # {reason}" if reason else ""))
    _echo(
        f"\nwritten: {out / 'fingerprint.json'}, {out / 'plan.json'} (reuse with: medimg fit DATA --config "
        f"{out / 'plan.json'})"
    )


@app.command(epilog=EXAMPLES["fit"])
def fit(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="folder, CSV manifest or MedMNIST .npz")],
    network: Annotated[
        str,
        typer.Option(
            "--network",
            "--model",
            help="network (see `medimg networks`), a classical model (random-forest, svm, ...) or auto",
        ),
    ] = "auto",
    task: Annotated[
        str,
        typer.Option(help="classify, segment, detect or generate (medimg.tasks.registry); auto: what the data holds"),
    ] = "auto",
    features: Annotated[
        str | None, typer.Option(help="features for classical models: handcrafted, radiomics, embeddings:RUN")
    ] = None,
    unlabelled: Annotated[
        Path | None,
        typer.Option(
            "--unlabelled",
            metavar="POOL",
            help="semi-supervised: also learn from unlabelled images (a folder, a CSV manifest, or DATA itself for "
            "its rows with an empty label); settings: --set semi_supervised.FIELD=VALUE",
        ),
    ] = None,
    teacher: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN",
            help="distil a trained classifier (e.g. an ensemble) into this network: it learns from RUN's soft "
            "predictions as well as the labels (with --unlabelled: RUN's predictions label the pool, a noisy "
            "student); settings: --set distill_weight=W --set distill_temperature=T",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="training epochs (default: planned)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size (default: planned)")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="peak learning rate (default: planned)")] = None,
    input_size: Annotated[
        int | None, typer.Option(help="network input side length in pixels/voxels (default: planned)")
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="local weights file to start from")] = None,
    synthetic: Annotated[
        Path | None, typer.Option(help="synthetic images (`medimg generate --out DIR`): training split only")
    ] = None,
    run_dir: Annotated[Path | None, typer.Option(help="run folder (default runs/<dataset>/expN)")] = None,
    runs_root: Annotated[
        Path,
        typer.Option(
            "--runs-root",
            "--project",
            help="parent of automatically named run folders: <runs-root>/<dataset>/expN (Ultralytics' project=)",
        ),
    ] = Path("runs"),
    seed: Annotated[int, typer.Option(help=_help("seed"))] = 0,
    folds: Annotated[int | None, typer.Option(help=_help("folds") + " (reports mean ± sd)")] = None,
    train_on_all: Annotated[bool, typer.Option(help=_help("train_on_all"))] = False,
    val_fraction: Annotated[float, typer.Option(help=_help("val_fraction"))] = 0.15,
    test_fraction: Annotated[float, typer.Option(help=_help("test_fraction"))] = 0.15,
    resume: Annotated[bool, typer.Option(help=_help("resume"))] = False,
    strict: Annotated[bool, typer.Option(help=_help("strict"))] = False,
    keep_conflicts: Annotated[bool, typer.Option(help=_help("keep_conflicts"))] = False,
    include: Include = None,
    exclude: Exclude = None,
    window: Window = None,
    label_column: LabelColumn = None,
    config: Annotated[Path | None, typer.Option(help="JSON file of plan fields")] = None,
    set_: SetOption = None,
    progress: Annotated[bool, typer.Option(help=_help("progress"))] = True,
    threads: Annotated[int | None, typer.Option(help=_help("num_threads"))] = None,
    nproc_per_node: Annotated[
        int | None,
        typer.Option(help="train with N processes on this machine (DDP through torchrun: gloo on CPU, NCCL on GPU)"),
    ] = None,
    nnodes: Annotated[int, typer.Option(help="machines taking part (with --nproc-per-node; see --rdzv-endpoint)")] = 1,
    node_rank: Annotated[int | None, typer.Option(help="this machine's index (multi-node, static rendezvous)")] = None,
    rdzv_endpoint: Annotated[
        str | None, typer.Option(help="HOST:PORT every node can reach, for multi-node training")
    ] = None,
    rdzv_id: Annotated[str, typer.Option(help="job id shared by the nodes of one multi-node run")] = "medimg",
) -> None:
    """Train a model: check -> fingerprint -> plan -> train -> evaluate on the test split."""
    from medimg.config import parse_assignments
    from medimg.model import Model

    if nproc_per_node is not None:
        from medimg.cli.launch import relaunch_with_torchrun
        from medimg.config import CLASSICAL_MODELS
        from medimg.errors import ConfigError

        if network in CLASSICAL_MODELS and nproc_per_node > 1:  # each process would train it and write a run
            raise ConfigError(
                f"--nproc-per-node: {network} is a classical model, trained in one process (it uses the cores "
                "through scikit-learn); drop --nproc-per-node"
            )
        raise typer.Exit(
            relaunch_with_torchrun(
                nproc_per_node, nnodes=nnodes, node_rank=node_rank, rdzv_endpoint=rdzv_endpoint, rdzv_id=rdzv_id
            )
        )
    assignments = parse_assignments(set_)
    network = _option_from_set(assignments, "network", network)
    given = flags_or_set(
        ctx,
        assignments,
        {
            "epochs": ("epochs", epochs),
            "batch_size": ("batch_size", batch_size),
            "learning_rate": ("learning_rate", learning_rate),
            "weights_path": ("weights", str(weights) if weights else None),
            "input_size": ("input_size", input_size),
            "features": ("features", features),
            "seed": ("seed", seed),
            "folds": ("folds", folds),
            "train_on_all": ("train_on_all", train_on_all),
            "val_fraction": ("val_fraction", val_fraction),
            "test_fraction": ("test_fraction", test_fraction),
            "resume": ("resume", resume),
            "strict": ("strict", strict),
            "keep_conflicts": ("keep_conflicts", keep_conflicts),
            "progress": ("progress", progress),
            "num_threads": ("threads", threads),
            "synthetic": ("synthetic", str(synthetic) if synthetic else None),
            "teacher": ("teacher", str(teacher) if teacher else None),
            "unlabelled": ("unlabelled", str(unlabelled) if unlabelled else None),
        },
    )
    seed, folds, train_on_all = given.pop("seed"), given.pop("folds"), given.pop("train_on_all")
    val_fraction, test_fraction = given.pop("val_fraction"), given.pop("test_fraction")
    resume, strict, keep_conflicts = given.pop("resume"), given.pop("strict"), given.pop("keep_conflicts")
    progress, threads = given.pop("progress"), given.pop("num_threads")
    synthetic_given, teacher_given = given.pop("synthetic"), given.pop("teacher")
    unlabelled_given = given.pop("unlabelled")
    overrides = {key: value for key, value in given.items() if value is not None}  # the plan fields given by flag
    task = _data_task(_option_from_set(assignments, "task", task), data, label_column)
    model = Model(network, task=task, **assignments)  # --set values are checked on their own first
    if config is not None:  # a broken --config file is named before minutes of reading and checking the data
        from medimg.config import read_config_file

        read_config_file(config)
    check = None
    if task == "classify" and not resume:
        fractions = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed}
        check = _check_before_fit(
            data,
            {"include": include, "exclude": exclude, "window": _window(window), "label_column": label_column},
            strict=strict,
            keep_conflicts=keep_conflicts,
            split_options=fractions,
        )
    chosen_threads: dict[str, Any] = {"num_threads": threads} if threads is not None else {}  # else FitOptions'
    model.fit(
        data,
        run_dir=run_dir,
        runs_root=runs_root,
        config_file=config,
        include=include,
        exclude=exclude,
        window=_window(window),
        unlabelled=Path(unlabelled_given) if unlabelled_given is not None else None,
        seed=seed,
        folds=folds,
        train_on_all=train_on_all,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        resume=resume,
        strict=strict,
        keep_conflicts=keep_conflicts,
        check=check,
        progress=progress,
        **chosen_threads,
        synthetic=synthetic_given,
        teacher=teacher_given,
        **({"label_column": label_column} if label_column is not None else {}),  # type: ignore[arg-type]
        **overrides,
    )
    if model.run_dir_ is None:  # a distributed rank other than 0: rank 0 reports
        return
    if folds and model.cv_summary_ is not None:
        from medimg.engine.cross_validation import summary_lines

        for line in summary_lines(model.cv_summary_):
            _echo(line)
        _echo(f"cross-validation: {model.run_dir_.parent / 'cv.json' if model.run_dir_ else ''}")
        _echo(f"report:     {model.run_dir_.parent / 'cv.html' if model.run_dir_ else ''}")
        return
    _print_metrics(model.report_)
    _echo(f"run folder: {model.run_dir_}")
    if model.report_ is None:  # --test-fraction 0: trained, with no test split to report on
        from medimg.io.inputs import shell_quoted

        _echo(
            "no test split, so no test report: evaluate held-out data with `medimg evaluate "
            f"{shell_quoted(model.run_dir_ or 'RUN')} DATA`"
        )
        return
    _echo(f"report:     {(model.last_report_dir_ or model.run_dir_ / 'report') / 'report.html'}")


def _option_from_set(assignments: dict[str, Any], name: str, given: str) -> str:
    """``--set network=X`` / ``--set task=X`` (``medimg plan`` prints both as plan fields) as ``--network X`` /
    ``--task X``, taken out of ``assignments``; one that contradicts the option is an error."""
    if name not in assignments:
        return given
    from medimg.errors import ConfigError

    value = str(assignments.pop(name))
    if given != "auto" and given != value:
        raise ConfigError(f"--set {name}={value} contradicts --{name} {given}: give one of them")
    return value


def _data_task(task: str, data: Path, label_column: str | None = None) -> str:
    """``task``, or for ``auto`` the task the data holds by its layout (:func:`medimg.data.layouts.data_task`),
    said on stderr when it is not classification; classification when the path reads as nothing (fit says why) or
    a label column is named (``--label-column``: a clinical table beside series that carry RT structure sets)."""
    if label_column is not None:
        from medimg.data.dataset import label_column_task_problem
        from medimg.errors import ConfigError

        problem = label_column_task_problem(task)
        if problem:
            raise ConfigError(problem)
    if task != "auto" or label_column is not None:
        return "classify" if task == "auto" else task
    from medimg.data.layouts import data_task

    path = Path(data).expanduser()
    if not path.exists():
        return "classify"
    found, layout = data_task(path)
    if found != "classify" and layout is not None:
        _echo(f"task: {found} ({layout.description} in {data}; --task chooses another)")
    return found


#: fit runs the dataset check first on classification data up to this many images (it reads every image once)
PRECHECK_MAX_IMAGES = 20_000


def _check_before_fit(
    data: Path,
    options: dict[str, Any],
    *,
    strict: bool,
    keep_conflicts: bool,
    split_options: dict[str, Any],
) -> CheckReport | None:
    """Print what `medimg check` finds (problems and warnings) before training, on the split fit makes
    (``split_options``: its fractions and seed; ``options``: how the data is read, include/exclude/window/label
    column); --strict refuses problems. Returns the check (fit uses its label conflicts), or ``None`` when it was
    not run."""
    from medimg.data.dataset import Dataset
    from medimg.data.quality import check_dataset
    from medimg.errors import DatasetError

    try:
        found = Dataset.load(data, task="classify", **options)
    except DatasetError:
        return None  # fit itself says what is wrong with the data
    if not isinstance(found, Dataset) or len(found.cases) > PRECHECK_MAX_IMAGES:
        return None
    report = check_dataset(found, split_options=split_options)
    findings = [line for line in report.summary().splitlines() if line.startswith(("  ", "warning:"))]
    for line in findings:
        _echo(f"check: {line.strip()}")
    if not report.ok:
        message = "the dataset check found problems (listed above; details: medimg check DATA)"
        if strict:
            raise DatasetError(f"{message}; --strict refuses to train on them: fix them, or drop --strict")
        if report.classes_of_one:
            return report  # not trained on at all: fit's own error follows, saying why
        left_out = len(report.suspected_masks) + len(report.blank)
        if left_out:
            message += f"; the {left_out} masks and blank files are left out (not images of their class)"
        conflicting = sum(len(group) for group in report.label_conflict_ids)
        if conflicting and not keep_conflicts:
            message += (
                f"; the {conflicting} images in label conflicts are left out of training, validation and test "
                "(--keep-conflicts keeps them)"
            )
        _echo(f"check: {message}; training anyway (--strict refuses)")
    return report


def _print_metrics(report: Any) -> None:
    """The report's headline metrics with their 95% CIs."""
    if report is None:
        return
    from medimg.evaluation.report import interval_text, population_text

    data = report.to_dict()
    metrics, cis = data["metrics"], data.get("confidence_intervals", {})
    unit = next((e.get("unit") for e in cis.values() if isinstance(e, dict) and e.get("unit")), None)
    who = population_text(metrics, unit, brief=True) if unit else f"{metrics.get('n')} images"
    _echo(f"{data.get('split', 'test')} set: {who}")
    classification = ("accuracy", "balanced_accuracy", "roc_auc", "f1_macro", "sensitivity", "specificity")
    keys = list(data.get("headline") or classification)  # a segmentation report names its headline metrics
    undefined = [k for k, e in cis.items() if k not in keys and _undefined_note(metrics.get(k), e)]
    if undefined:  # an undefined metric keeps its line, saying why (it vanished: no sensitivity, no word)
        order = [*classification, *keys, *undefined]
        keys = sorted([*keys, *undefined], key=order.index)
    width = max(18, *(len(k) for k in keys))
    for key in keys:
        ci = cis.get(key) or {}
        value = ci.get("value", metrics.get(key))
        if value is None:
            if note := _undefined_note(value, ci):
                _echo(f"  {key:{width}s} {'—':6s}  ({note})")
            continue
        interval = f"  ({text})" if (text := interval_text(ci)) else ""
        positive = metrics.get("positive_class")
        of = f"  (recall of {positive!r})" if key == "sensitivity" and positive is not None else ""
        _echo(f"  {key:{width}s} {value:.4f}{interval}{of}")
    per_finding = metrics.get("per_finding") or {}  # a multi-label model: each finding's AUC and operating point
    if per_finding:
        _echo(f"  {'finding':{width}s} {'AUC':>6s}  sens   spec   (images with it)")
        for name, row in per_finding.items():
            auc, sens, spec = (row.get(k) for k in ("roc_auc", "sensitivity", "specificity"))
            cells = "  ".join("  —  " if v is None else f"{v:.3f}" for v in (sens, spec))
            _echo(
                f"  {name[:width]:{width}s} {'—' if auc is None else f'{auc:.4f}':>6s}  {cells}  ({row['positives']})"
            )


def _undefined_note(value: Any, entry: Any) -> str:
    """The reason a headline metric has no value (``"undefined: no case of the positive class 'tumor' in these 20
    cases"``), or ``""`` when it has one or no reason is given."""
    if value is not None or not isinstance(entry, dict) or entry.get("value") is not None:
        return ""
    note = str(entry.get("note") or "")
    return note if note.startswith("undefined") else ""


@app.command(epilog=EXAMPLES["evaluate"])
def evaluate(
    run: Annotated[Path, typer.Argument(help="run folder written by `medimg fit`")],
    data: Annotated[Path | None, typer.Argument(help="another dataset (default: the training data)")] = None,
    split: Annotated[str, typer.Option(help="train, val, test or all")] = "test",
    out: Annotated[Path | None, typer.Option(help="report folder")] = None,
    include: Include = None,
    exclude: Exclude = None,
    window: Window = None,
    threads: Threads = None,
    strict: Strict = False,
    scale: Scale = None,
    mask_labels: Annotated[
        str | None,
        typer.Option(
            help="segmentation: which mask value is which of the run's classes, e.g. '0=background,1=vessel' "
            "(colours: '255,0,0=background;0,0,255=nucleus'; 'ignore' leaves a value out) or a JSON file"
        ),
    ] = None,
    label_column: LabelColumn = None,
    progress: Progress = True,
) -> None:
    """Evaluate a trained model: metrics with 95% CIs, plots and an HTML report.

    Images are compared with what the model was trained on (a warning and the report's "domain" entry; --strict
    refuses images outside it). An external set with one class is evaluated with the metrics defined on it.
    Segmentation masks in another encoding (0/1 vs 0/255, other label values or colours) are mapped to the run's
    classes, by the names the data gives or by rank of values (a warning says which); images at another pixel
    scale than training get a warning suggesting --scale."""
    from medimg.model import Model
    from medimg.terminal import set_bars

    set_bars(progress)
    _set_threads(threads)
    model = Model.load(run)
    report = model.evaluate(
        data,
        split=split,
        out_dir=out,
        strict=strict,
        window=_window(window),
        include=include,
        exclude=exclude,
        scale=scale,
        mask_labels=mask_labels,
        label_column=label_column,
    )
    _print_metrics(report)
    _echo(f"report: {(model.last_report_dir_ or Path('.')) / 'report.html'}")


def _paths_with_standard_input(paths: list[Path]) -> list[Path]:
    """``paths`` with ``-`` replaced by the paths read from standard input, one per line (blank lines and comment
    lines, starting with ``#``, skipped).

    Raises:
        ConfigError: ``-`` with a terminal as standard input (nothing piped), or nothing read.
    """
    from medimg.errors import ConfigError

    if Path("-") not in paths:
        return paths
    if sys.stdin is None or sys.stdin.isatty():
        raise ConfigError(
            "- reads image paths from standard input, one per line: pipe them in, e.g. "
            "find scans -name '*.dcm' | medimg predict RUN -"
        )
    piped = [Path(line.rstrip("\r\n")) for line in sys.stdin if line.strip() and not line.lstrip().startswith("#")]
    if not piped:
        raise ConfigError("- read no paths from standard input: give one image path per line")
    return [q for p in paths for q in (piped if p == Path("-") else [p])]


@app.command(epilog=EXAMPLES["predict"])
def predict(
    run: Annotated[
        Path, typer.Argument(help="run folder written by `medimg fit` (or a .onnx file with --engine onnx)")
    ],
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="image files or folders (PNG, JPEG, BMP, TIFF, DICOM, NIfTI); - reads paths from standard input, "
            "one per line (find scans -name '*.dcm' | medimg predict RUN -)"
        ),
    ],
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="json (an array), jsonl (one object per line) or csv; default: --out's suffix, else json"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="torch, or onnx (ONNX Runtime on RUN/model.onnx; see `medimg export`); a .onnx file given as "
            "RUN runs on onnx"
        ),
    ] = "torch",
    explain: Annotated[
        bool, typer.Option("--explain", help="also save a heatmap overlay PNG per image (torch engine)")
    ] = False,
    explain_method: Annotated[
        str | None, typer.Option(help="gradcam (the default), gradcam++ or occlusion; implies --explain")
    ] = None,
    explain_class: Annotated[
        str | None,
        typer.Option(
            help="the class (a finding) every heatmap explains, instead of each image's predicted class; implies "
            "--explain"
        ),
    ] = None,
    explain_dir: Annotated[
        Path | None,
        typer.Option(help="folder for the overlays (default: explanations/ beside --out, or ./); implies --explain"),
    ] = None,
    window: Window = None,
    strict: Strict = False,
    threads: Threads = None,
    decode_workers: Annotated[
        int | None,
        typer.Option(help="classify: processes decoding images beside the network (default: cores - 1; 0: none)"),
    ] = None,
    include: Include = None,
    exclude: Exclude = None,
    scale: Scale = None,
    progress: Progress = True,
) -> None:
    """Predict with a trained model: labels and probabilities, masks or boxes (optionally with Grad-CAM heatmaps).

    Each input is compared with what the model was trained on: one outside it gets a warning and
    "domain": {"in_domain": false, "reasons": [...]} in the output (--strict refuses it). --out DIR (a folder)
    writes predictions.json|jsonl|csv there and segmentation masks mirroring the input tree. A classifier streams:
    decode workers read the next images while the network runs, rows are written as they come, memory stays
    bounded; with --out, images/s and peak memory are reported on stderr."""
    from medimg.errors import ConfigError
    from medimg.tasks.classify.stream import StreamStats
    from medimg.tasks.prediction_output import PREDICTION_FORMATS, write_predictions
    from medimg.terminal import set_bars

    set_bars(progress)

    output_format = _prediction_format(output_format, out, PREDICTION_FORMATS)
    paths = _paths_with_standard_input(paths)
    # each asks for explanations (--explain-dir alone wrote none, silently)
    explain = explain or explain_method is not None or explain_class is not None or explain_dir is not None
    explain_method = explain_method or "gradcam"
    if engine not in {"torch", "onnx"}:
        raise ConfigError(f"--engine {engine!r}: use torch or onnx")
    if run.suffix.lower() == ".onnx" and run.is_file():  # an exported file runs on ONNX Runtime, whatever --engine
        engine = "onnx"
    out_folder = out if out is not None and (out.is_dir() or not out.suffix) else None
    if out_folder is not None:
        out = out_folder / f"predictions.{output_format}"
    elif out is not None:
        _refuse_image_as_output(out, paths)
    overlay_folder = explain_dir or ((out.parent if out else Path(".")) / "explanations")
    exclude = _without_own_overlays(paths, overlay_folder, exclude)
    predictor: Any
    stats = StreamStats()  # a classifier streams: decode pool beside the network, bounded memory
    predictions: Iterable[Any]
    if engine == "onnx":
        torch_engine = "give the run folder, not its .onnx file" if run.is_file() else "drop --engine onnx"
        if explain:
            raise ConfigError(f"--explain needs the PyTorch engine (gradients); {torch_engine}")
        if scale is not None:
            raise ConfigError(f"--scale needs the PyTorch engine; {torch_engine}")
        from medimg.export.predictor import OnnxPredictor

        predictor = OnnxPredictor(run, threads=threads, window=_window(window), strict=strict)
        if predictor.task == "classify":
            predictions = predictor.predict_iter(
                paths, include=include, exclude=exclude, stats=stats, decode_workers=decode_workers
            )
        else:
            predictions = predictor.predict(paths, out_dir=out_folder, include=include, exclude=exclude)
    else:
        from medimg.model import Model

        _set_threads(threads)
        predictor = Model.load(run)
        options: dict[str, Any] = dict(
            explain=explain_method if explain else None,
            explain_class=explain_class,
            out_dir=out_folder,
            window=_window(window),
            strict=strict,
            include=include,
            exclude=exclude,
        )
        if scale is not None:  # segmentation only (Model.predict refuses it for other tasks)
            options["scale"] = scale
        if predictor.task == "classify" and scale is None:
            predictions = predictor.predict_iter(paths, stats=stats, decode_workers=decode_workers, **options)
        else:
            predictions = predictor.predict(paths, **options)
    point = predictor.operating_point if engine == "onnx" else predictor.operating_point_
    if point is not None:  # the probability columns are not raw probabilities: say so once, before they come
        from medimg.tasks.classify.operating_point_record import operating_point_text

        logging.getLogger("medimg.predict").info(
            "the model decides at %s; that threshold is folded into the probabilities: “%s” at 0.5 or more, not its "
            "raw probability",
            operating_point_text(point),
            point["class"],
        )
    if explain:
        predictions = _saved_overlays(predictions, overlay_folder)
    count = write_predictions(predictions, out if out else sys.stdout, output_format)
    if out:
        _echo(f"{count} prediction(s) written to {out}")
        if stats.images:
            typer.echo(_throughput_line(stats), err=True)
    if out and not predictor.failed_:  # an earlier call's table of failures would be read as this call's
        _failed_table_path(out).unlink(missing_ok=True)
    if predictor.failed_:
        # a batch of thousands: the files to look at, in a table beside the predictions
        failed_table = _write_failed_table(predictor.failed_, out) if out else None
        typer.echo(_failed_lines(predictor.failed_, failed_table), err=True)
        raise typer.Exit(1)


#: the unusable files ``medimg predict`` names on the terminal, one a line (the rest: a count, and its table)
FAILED_SHOWN = 5


def _failed_lines(failed: Sequence[tuple[str, str]], table: Path | None) -> str:
    """The files ``medimg predict`` could not use, one a line (the first :data:`FAILED_SHOWN` of many, then how
    many more and where the full list is), each with its reason (without the file's name repeated)."""
    shown = failed if len(failed) <= FAILED_SHOWN + 1 else failed[:FAILED_SHOWN]
    where = f" (all listed in {table})" if table is not None else ""
    lines = [f"{len(failed)} file(s) could not be used{where}:"]
    for source, reason in shown:
        reason = reason.removeprefix(f"{source}: ")
        lines.append(f"  {source}: {reason}")
    if len(shown) < len(failed):
        rest = f"{len(failed) - len(shown)} more"
        lines.append(
            f"  ... and {rest} in {table}"
            if table is not None
            else f"  ... and {rest} (with --out, all are listed in a .failed.csv table beside the predictions)"
        )
    return "\n".join(lines)


def _write_failed_table(failed: Sequence[tuple[str, str]], out: Path) -> Path:
    """``OUT_STEM.failed.csv`` beside the predictions ``out``: one row (``source``, ``reason``) per file that could
    not be used, so the failures of a large batch are kept with its results, not only printed."""
    import csv
    import io

    from medimg.fileio import atomic_write_bytes

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source", "reason"])
    writer.writerows(failed)
    target = _failed_table_path(out)
    atomic_write_bytes(target, buffer.getvalue().encode("utf-8"))
    return target


def _failed_table_path(out: Path) -> Path:
    """Where the table of a ``predict --out OUT`` call's unusable files goes: ``OUT_STEM.failed.csv`` beside it."""
    return out.with_name(f"{out.stem}.failed.csv")


def _refuse_image_as_output(out: Path, inputs: Sequence[Path]) -> None:
    """``--out`` must not name an image: ``--out *.dcm`` (a shell glob after --out) wrote the CSV over the first
    scan, ``--out pin/img_000.png`` the JSON over the image just predicted.

    Raises:
        ConfigError: ``out`` has an image file's suffix or is one of the inputs.
    """
    from medimg.errors import ConfigError
    from medimg.io.formats import IMAGE_SUFFIXES, file_suffix

    given = out.expanduser().resolve()
    if file_suffix(out) in IMAGE_SUFFIXES or any(given == Path(p).expanduser().resolve() for p in inputs):
        raise ConfigError(
            f"--out {out} names an image file (an input, or a shell glob right after --out?): predictions would be "
            "written over it; give a table such as --out predictions.csv or a folder"
        )


#: ``--out`` names a spreadsheet's own format, which predict does not write
SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods", ".tsv")


def _prediction_format(given: str | None, out: Path | None, formats: Sequence[str]) -> str:
    """``--format`` (any case), else the one ``--out``'s suffix names (``p.csv``: csv), else json.

    Raises:
        ConfigError: an unknown format.
    """
    from medimg.errors import ConfigError

    if out is not None and out.suffix.lower() in SPREADSHEET_SUFFIXES:  # was: JSON text in preds.xlsx
        raise ConfigError(
            f"--out {out}: medimg writes {', '.join(formats)}, not {out.suffix}; a spreadsheet opens the CSV: "
            f"--out {out.with_suffix('.csv')}"
        )
    if given is None:
        suffix = out.suffix.lower().lstrip(".") if out is not None else ""
        return {"ndjson": "jsonl"}.get(suffix, suffix) if suffix in {*formats, "ndjson"} else "json"
    if given.lower() not in formats:
        raise ConfigError(f"--format {given!r}: use {', '.join(formats)}")
    named = {"ndjson": "jsonl"}.get(out.suffix.lower().lstrip("."), out.suffix.lower().lstrip(".")) if out else ""
    if named in formats and named != given.lower():  # preds.csv written as JSON lines: a spreadsheet cannot read it
        message = f"warning: --out {out} names {named.upper()} but --format {given.lower()} is written into it"
        typer.echo(message, err=True)
    return given.lower()


#: the names of the overlays ``predict --explain`` writes (``0003_case.gradcam.png``, ``0003_case.occlusion.nii.gz``)
OVERLAY_PATTERNS = tuple(
    f"[0-9][0-9][0-9][0-9]_*.{method}.{suffix}" for method in EXPLAIN_METHODS for suffix in ("png", "nii.gz")
)


def _without_own_overlays(paths: list[Path], folder: Path, exclude: list[str] | None) -> list[str] | None:
    """``exclude`` plus the overlays this command writes into ``folder`` when that folder lies inside a folder
    given as input (`predict RUN images/ --out images/preds.csv --explain` puts them in ``images/explanations/``):
    the next call read them as patients' images and predicted them (a heatmap overlay called "lesion", 0.99)."""
    try:
        target = folder.expanduser().resolve()
    except OSError:
        return exclude
    added: list[str] = []
    for given in paths:
        try:
            inside = target.relative_to(Path(given).expanduser().resolve()) if Path(given).is_dir() else None
        except (OSError, ValueError):
            inside = None
        if inside is None:
            continue
        prefix = "" if inside == Path(".") else f"{inside.as_posix()}/"
        added += [prefix + pattern for pattern in OVERLAY_PATTERNS]
    if not added:
        return exclude
    found = sum(1 for pattern in OVERLAY_PATTERNS for _ in target.glob(pattern)) if target.is_dir() else 0
    if found:  # said once, however many input folders hold the overlay folder
        logging.getLogger("medimg.predict").info(
            "left out %d overlay(s) in %s that predict --explain wrote: they are pictures of earlier predictions, "
            "not images to predict",
            found,
            folder,
        )
    return [*(exclude or []), *dict.fromkeys(added)]


def _saved_overlays(predictions: Iterable[Any], folder: Path) -> Iterator[Any]:
    """Save each prediction's overlay PNG as it comes (``NNNN_<stem>.<method>.png``; a volume's heatmap also as
    ``NNNN_<stem>.<method>.nii.gz`` on the input's grid) and drop them from memory.

    Numbers go on after the overlays already in ``folder``, so a later call never replaces an earlier call's
    overlays, which that call's predictions name (the counter restarted at 0000: the second call's ``0000_a``
    replaced the first's, whose JSON then pointed at another image's heatmap). A name is claimed before it is
    written, so two calls writing into one folder at the same time take different numbers.
    """
    from medimg.fileio import atomic_write_bytes
    from medimg.io.formats import file_stem, safe_file_name

    numbers = (re.match(r"(\d+)_", f.name) for f in folder.glob("*.png")) if folder.is_dir() else iter(())
    first = max((int(m.group(1)) + 1 for m in numbers if m), default=0)
    for i, p in enumerate(predictions):
        if getattr(p, "overlay_png", None) is not None:  # a series summary has no overlay
            stem = safe_file_name(file_stem(p.source))  # scan.nii.gz -> scan; letters of any script kept
            folder.mkdir(parents=True, exist_ok=True)
            while True:
                target = folder / f"{first + i:04d}_{stem}.{p.explain_method}.png"
                try:
                    target.touch(exist_ok=False)
                    break
                except FileExistsError:  # another call is writing into the folder
                    first += 1
            atomic_write_bytes(target, p.overlay_png)
            nifti = p.heatmap_nifti() if hasattr(p, "heatmap_nifti") else None
            if nifti is not None:  # a volume's heatmap: beside the overlay, on the input's grid
                volume = target.with_name(f"{target.name[: -len('.png')]}.nii.gz")
                atomic_write_bytes(volume, nifti)
                p.heatmap_path, p.heatmap_grid = str(volume), None
            p.overlay_path, p.overlay_png, p.heatmap = str(target), None, None
        yield p


def _throughput_line(stats: Any) -> str:
    """``medimg predict``'s summary of a stream: images/s, where the time went, peak memory."""
    from medimg.tasks.classify.stream import peak_rss_mb

    workers = f" + {stats.worker_peak_rss_mb:.0f} MB per decode worker" if stats.worker_peak_rss_mb else ""
    return (
        f"{stats.images} image(s) in {stats.wall_s:.1f} s ({stats.images_per_s:.0f} images/s): decoding "
        f"{stats.decode_s:.1f} s in {stats.decode_workers or 'no'} worker(s) (waited {stats.wait_s:.1f} s), network "
        f"{stats.network_s:.1f} s; peak RSS {peak_rss_mb():.0f} MB{workers}"
    )


def _refuse_edited_plan(out: Path, new: dict[str, Any]) -> None:
    """``medimg plan`` writes ``OUT/plan.json`` for the user to edit and pass to ``fit --config``: a later ``plan``
    replaced the edits. A plan.json changed after ``plan`` wrote it (or one ``plan`` did not write: no
    fingerprint.json beside it) is kept, unless it already holds this plan.

    Raises:
        ConfigError: ``OUT/plan.json`` holds edits this command would overwrite.
    """
    from medimg.errors import ConfigError

    plan_file, fingerprint_file = out / "plan.json", out / "fingerprint.json"
    if not plan_file.is_file():
        return
    try:
        if json.loads(plan_file.read_text()) == json.loads(json.dumps(new)):
            return
    except (OSError, ValueError):
        pass
    written_with = fingerprint_file.is_file() and plan_file.stat().st_mtime - fingerprint_file.stat().st_mtime < 2.0
    if not written_with:
        raise ConfigError(
            f"{plan_file} was edited after `medimg plan` wrote it (or was not written by it): a new plan would replace "
            "it; give another --out (or move it away)"
        )


@app.command()
def networks() -> None:
    """List the networks of every task (--network NAME, --task TASK) and the classical models."""
    from medimg.config import CLASSICAL_MODELS
    from medimg.networks import list_networks, network_info
    from medimg.tasks.detect.networks import DETECTORS
    from medimg.tasks.generate.networks import NETWORKS as GENERATORS
    from medimg.tasks.segment.networks import list_segmentation_networks

    _echo("classify (default task):")
    for name in list_networks():
        info = network_info(name)
        dims = "/".join(f"{d}D" for d in info.spatial_dims)
        _echo(f"  {name:18s} {dims:6s} {info.description}")
    _echo("classify, classical (scikit-learn on image features): " + ", ".join(CLASSICAL_MODELS))
    _echo("segment (--task segment): " + ", ".join(list_segmentation_networks()))
    _echo("detect (--task detect): " + ", ".join(DETECTORS))
    _echo("generate (--task generate): " + ", ".join(GENERATORS))


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the synthetic data and the run")] = Path("runs/demo"),
    n_per_class: Annotated[int, typer.Option(help="synthetic images per class")] = 200,
    epochs: Annotated[int, typer.Option(help="training epochs")] = 20,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """The built-in default: synthetic phantoms -> check -> fit -> evaluate -> predict (about a minute)."""
    import shutil

    from medimg.data.dataset import Dataset
    from medimg.data.quality import check_dataset
    from medimg.data.synthetic import make_phantom_dataset
    from medimg.model import Model

    data_dir = out / "phantoms"
    run_dir = out / "run"
    _refuse_folders_demo_did_not_make(data_dir, run_dir)
    for folder in (data_dir, run_dir):
        if folder.exists():
            shutil.rmtree(folder)
    _echo(f"1/4 drawing {2 * n_per_class} synthetic phantom images (normal / lesion) in {data_dir}")
    make_phantom_dataset(data_dir, n_per_class=n_per_class, size=32, seed=0)
    dataset = Dataset.load(data_dir, task="classify")
    _echo("2/4 checking the dataset")
    _echo(check_dataset(dataset).summary())
    _echo(f"3/4 training (run folder {run_dir})")
    model = Model("auto").fit(dataset, run_dir=run_dir, epochs=epochs, progress=progress)
    _print_metrics(model.report_)
    _echo("4/4 predicting two images with the saved model")
    loaded = Model.load(run_dir)
    samples = [data_dir / "normal" / "phantom_0000.png", data_dir / "lesion" / "phantom_0000.png"]
    for p in loaded.predict(samples):
        _echo(f"  {p.source}: {p.label} ({p.confidence:.1%})")
    _echo(f"\nreport: {model.last_report_dir_ / 'report.html' if model.last_report_dir_ else ''}")


def _refuse_folders_demo_did_not_make(data_dir: Path, run_dir: Path) -> None:
    """``medimg demo`` replaces its own earlier phantoms and run; anything else under those names (a user's run in
    ``study/run``, other images) is refused, never deleted.

    Raises:
        ConfigError: ``data_dir`` holds files other than phantoms, or ``run_dir`` is not the run of them.
    """
    from medimg.errors import ConfigError, RunFolderError
    from medimg.run_folder import RunFolder

    if data_dir.exists():
        strays = [
            p
            for p in data_dir.rglob("*")
            if p.is_file() and not (p.parent.name in {"normal", "lesion"} and re.fullmatch(r"phantom_\d+\.png", p.name))
        ]
        if strays or not data_dir.is_dir():
            raise ConfigError(
                f"{data_dir} holds files medimg demo did not make (e.g. {strays[0] if strays else data_dir}) and demo "
                "would delete it: choose another --out"
            )
    if run_dir.exists():
        try:
            ours = RunFolder(run_dir).trained_data().resolve() == data_dir.resolve()
        except (RunFolderError, KeyError, TypeError):
            ours = False
        if not ours:
            raise ConfigError(
                f"{run_dir} is not the run of an earlier medimg demo (its files would be deleted): choose another --out"
            )


# Commands of later stages live in their own modules and register themselves on ``app``.
from medimg.cli import commands as _commands  # noqa: E402

_commands.register(app)


def interrupted_message(args: list[str], signum: int | None = None) -> str:
    """What Ctrl-C (or SIGTERM, ``signum``) says: how to go on with the command it stopped
    (:func:`medimg.interrupts.advice`: a fit's ``--resume``; for the others, what was kept and that running them
    again starts over)."""
    from medimg.interrupts import advice

    return advice(args, signum)


def _key_value_hint(args: list[str]) -> str | None:
    """For ``medimg fit DATA epochs=5`` (Ultralytics' form): how medimg takes it."""
    loose = [
        arg
        for before, arg in zip(["", *args], args, strict=False)
        if re.fullmatch(r"[A-Za-z_][\w.]*=\S+", arg) and before != "--set"
    ]
    if not loose:
        return None
    key, value = loose[0].split("=", 1)
    return (
        f"hint: {loose[0]} is not read as a setting: medimg takes --{key.replace('_', '-')} {value} where the "
        f"command has that option, or --set {loose[0]} for any plan field"
    )


def configure_logging(rank: int, local_rank: int = 0) -> None:
    """medimg's own progress messages (INFO) on stderr from the first process, warnings from the first process of
    each machine (``local_rank`` 0: the others read the same files and would repeat each warning once per process;
    another machine's may differ), errors from every process; other libraries' INFO chatter (the ONNX exporter's
    optimiser passes, torch.distributed) and pydicom's decoder tracebacks stay out of the terminal. Where stderr
    is a file or a pipe (a Slurm job's log) each line begins with the date and time, so a log says when a job
    stalled."""
    from medimg.library_logs import quiet_dicom_decoder_errors
    from medimg.terminal import is_interactive

    when = "" if is_interactive(sys.stderr) else "%(asctime)s "
    logging.basicConfig(
        level=logging.WARNING if local_rank == 0 else logging.ERROR,
        format=when + ("%(levelname)s %(message)s" if rank == 0 else f"[rank {rank}] %(levelname)s %(message)s"),
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("medimg").setLevel(
        logging.INFO if rank == 0 else logging.WARNING if local_rank == 0 else logging.ERROR
    )
    for handler in logging.getLogger().handlers:  # one per command: a test's second command says its lines again
        for said in [f for f in handler.filters if isinstance(f, SaidOnce)]:
            handler.removeFilter(said)
        handler.addFilter(SaidOnce())
    quiet_dicom_decoder_errors()


class SaidOnce(logging.Filter):
    """Drops a message about the data that this command has printed already: ``fit`` reads the dataset for its
    check and again for training, and each read said the same lines (where the labels come from, the files left
    out). Only messages of the data and image readers (``medimg.data``, ``medimg.io``); the first
    :data:`REMEMBERED` are remembered."""

    REMEMBERED = 10_000
    PREFIXES = ("medimg.data", "medimg.io")

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.PREFIXES):
            return True
        key = (record.name, record.levelno, record.getMessage())
        if key in self.seen:
            return False
        if len(self.seen) < self.REMEMBERED:
            self.seen.add(key)
        return True


def main() -> None:
    """Console entry point: user errors are printed as one clear message, never a traceback. Under torchrun every
    process meets the same error: the others' copies carry their rank, and only the first process says how to go
    on after Ctrl-C."""
    from medimg import interrupts

    try:  # Ctrl-C while torch and the commands are imported (seconds): one line, not a traceback
        from medimg.engine.distributed import launched_by_medimg, process_local_rank, process_rank
        from medimg.errors import MedimgError
        from medimg.terminal import close_progress_bars, escape_what_streams_cannot_encode, use_colour

        escape_what_streams_cannot_encode()
        rank = process_rank()
        launcher_advises = launched_by_medimg()  # `fit --nproc-per-node N` says how to go on, with its own options
        colour = use_colour(sys.stderr)  # red errors on a terminal, unless NO_COLOR or TERM=dumb
        interrupts.install()
        configure_logging(rank, process_local_rank())
        from medimg.cli.help_layout import fit_help_to_terminal

        command = typer.main.get_command(app)  # what app() runs, with --help that fits a narrow terminal
        fit_help_to_terminal(command)
        expand_home_in_paths(command)
    except KeyboardInterrupt:
        sys.stderr.write(STARTING_INTERRUPTED + "\n")
        sys.exit(interrupts.exit_code())

    def say(message: str) -> None:
        close_progress_bars()  # the message on a line of its own, and no bar redrawn after it
        if rank == 0 and not (launcher_advises and message.startswith("interrupted")):
            typer.secho(message, fg=typer.colors.RED, err=True, color=colour)
        elif not message.startswith("interrupted"):
            typer.secho(f"[rank {rank}] {message}", fg=typer.colors.RED, err=True, color=colour)

    try:
        code = _run_command(command, sys.argv[1:], say)
        sys.exit(code)
    except SystemExit as done:  # a usage error: say how options are written when Ultralytics' key=value was given
        hint = _key_value_hint(sys.argv[1:]) if done.code == 2 else None
        if done.code == 130:  # Ctrl-C or SIGTERM (typer's exit code for a KeyboardInterrupt): how to go on
            say(interrupted_message(sys.argv[1:], interrupts.received_signal()))
            sys.exit(interrupts.exit_code())  # 143 for SIGTERM, as a shell or Slurm reports a process it ended
        if hint:
            say(hint)
        raise
    except MedimgError as error:
        say(f"error: {error}")
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM outside typer's own handling: how to go on, not a traceback
        say(interrupted_message(sys.argv[1:], interrupts.received_signal()))
        sys.exit(interrupts.exit_code())
    except OSError as error:  # a read-only folder, a full disk: the file and the reason, not a traceback
        say(os_error_line(error))
        sys.exit(2)


def os_error_line(error: OSError) -> str:
    """The ``error:`` line for a file the command could not write or read: the path, the reason and the fix for
    *that* reason (a file where a folder is needed, ``plan --out notes.txt``, was told to free some space)."""
    import errno

    where = f" {error.filename}" if error.filename else ""
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        fix = "a file is in the way where medimg needs a folder: give a folder path (--out, --run-dir) or move the file"
    elif error.errno == errno.EISDIR:
        example = Path(error.filename or ".") / "out.json"
        fix = f"it is a folder where medimg needs a file: give a file path, e.g. {example}"
    elif error.errno == errno.ENOENT:
        fix = f"check the path (relative to {Path.cwd()})"
    elif error.errno == errno.ELOOP:
        fix = "a symbolic link there leads back to itself (ls -l shows where): remove it or point it at the real file"
    elif error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        fix = "free some space or choose a folder on another disk (--run-dir, --out)"
    else:
        fix = "choose a folder you can write to (--run-dir, --out)"
    return f"error: cannot write or read{where}: {error.strerror or error}; {fix}"


def expand_home_in_paths(command: Any) -> None:
    """Make every path option and argument of ``command`` and its subcommands expand a leading ``~``: the shell
    leaves ``--run-dir=~/runs`` (``~`` after ``=``) and a quoted ``"~/data"`` as they are, and ``fit`` made a folder
    named ``~`` in the current folder."""
    from types import MethodType

    from medimg.cli.help_layout import walk_commands

    def expanded(value: Any) -> Any:
        if isinstance(value, Path) and value.parts and value.parts[0].startswith("~"):
            return value.expanduser()
        if isinstance(value, list | tuple):
            return type(value)(expanded(v) for v in value)
        return value

    for each in walk_commands(command):
        for param in getattr(each, "params", ()):
            process = param.process_value

            def process_value(self: Any, ctx: Any, value: Any, process: Any = process) -> Any:
                return expanded(process(ctx, value))

            param.process_value = MethodType(process_value, param)


def _run_command(command: Any, args: list[str], say: Any) -> int:
    """Run the click ``command`` on ``args`` and return its exit code. A mistyped command or option, a value of the
    wrong type or a missing argument is said as one ``error:`` line with the command's usage and where its help
    is (it was a Rich box of box-drawing characters, written into log files and pipes as well); ``medimg`` alone
    prints the list of commands."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    try:
        code = command.main(args=args, prog_name="medimg", standalone_mode=False)
    except NoArgsIsHelpError as shown:  # `medimg` or `medimg token`: the help, as `--help` prints it
        typer.echo(shown.ctx.get_help())
        return 2
    except UsageError as error:
        ctx = error.ctx
        message = error.format_message().rstrip()
        end = "" if message.endswith((".", "?")) else "."
        if ctx is not None:
            path, usage = ctx.command_path, ctx.get_usage().replace("Usage: ", "usage: ", 1) + ";"
        else:  # an option's value missing (`fit DATA --set`): click gives no context, the command is in args
            name = next((arg for arg in args if arg in getattr(command, "commands", {})), None)
            path, usage = ("medimg" if name is None else f"medimg {name}"), ""
        say(f"error: {message}{end} {usage + ' ' if usage else ''}`{path} --help` explains the options")
        misplaced = next((arg for arg in args[1:] if arg in ROOT_OPTIONS), None)
        if misplaced is not None and path != "medimg" and f"option: {misplaced}" in message:
            import shlex

            rest = list(args)
            rest.remove(misplaced)
            say(f"hint: {misplaced} belongs before the command: {shlex.join(['medimg', misplaced, *rest])}")
        return error.exit_code
    except ClickException as error:  # a file option that cannot be opened, and the like
        say(f"error: {error.format_message()}")
        return error.exit_code
    except typer.Abort:  # a prompt ended by Ctrl-D
        say("error: aborted (no input)")
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
