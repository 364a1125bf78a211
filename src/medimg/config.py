"""Run options and plan overrides. The one place where precedence is applied:

``defaults < plan < config file < arguments``.
"""

from __future__ import annotations

import json
import logging
import os
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medimg.errors import ConfigError, did_you_mean
from medimg.planning.plan import Plan, field_help

logger = logging.getLogger(__name__)

PlanT = TypeVar("PlanT", bound=BaseModel)


def default_threads() -> int:
    """Training's CPU threads: ``OMP_NUM_THREADS`` when set (a shared machine's limit), else the cores this process
    may run on (its CPU affinity: a container's or a batch job's share, not the whole machine)."""
    import os

    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class FitOptions(BaseModel):
    """Options of a training run that are not part of the plan (where, how, with which split)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="random seed for splits, initialisation and augmentation")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="validation share when the data has no split")
    test_fraction: float = Field(0.15, ge=0, lt=1, description="test share when the data has no split")
    folds: int | None = Field(None, ge=2, description="k-fold cross-validation over train+val")
    train_on_all: bool = Field(
        False,
        description="train on the validation images too, with no validation: the last epoch's weights are kept "
        "and nothing is chosen on validation (nnU-Net's fold 'all'; segmentation)",
    )
    strict: bool = Field(
        False,
        description="fail on any unreadable image instead of skipping it, and on identical images with different "
        "labels instead of leaving them out",
    )
    keep_conflicts: bool = Field(
        False,
        description="train on identical images that carry different labels (by default every copy is left out of "
        "training, validation and test; strict refuses them)",
    )
    resume: bool = Field(False, description="continue an interrupted run from its last checkpoint")
    progress: bool = Field(True, description="show progress bars")
    tensorboard: bool = Field(True, description="write TensorBoard logs to RUN/tensorboard")
    num_threads: int = Field(
        default_factory=lambda: default_threads(),
        ge=1,
        description="torch CPU threads (default: OMP_NUM_THREADS when set, else the cores this process may use)",
    )
    synthetic: str | None = Field(
        None,
        description="folder (or synthetic.csv) of images written by `medimg generate`: added to the training split "
        "only, never to validation or test",
    )
    teacher: str | None = Field(
        None,
        description="run folder of a trained classifier (e.g. an ensemble) whose soft predictions the network learns "
        "from as well as from the labels (knowledge distillation into a smaller, faster network); with an "
        "unlabelled pool, its predictions on the pool are the pool's targets (a noisy student)",
    )
    unlabelled: str | None = Field(
        None,
        description="unlabelled pool for semi-supervised training (where it came from; the images travel with the "
        "dataset): a folder of images, a CSV manifest, or the data's own rows with an empty label",
    )

    @field_validator("synthetic", "teacher", mode="before")
    @classmethod
    def _folder_as_text(cls, value: Any) -> Any:
        """A folder given as a ``Path`` (``Model.generate(...).folder``, ``Model.run_dir_``) is taken as its text."""
        return str(value) if isinstance(value, os.PathLike) else value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON config file: plan fields at the top level (``{"epochs": 5, "augmentation": {...}}``).

    Raises:
        ConfigError: the file is missing, a folder, not JSON, not one JSON object, or names a field twice (JSON
            keeps the last silently: an edited plan.json with ``epochs`` added at the top and the planned one still
            below trained the planned value).
    """
    file = Path(path)
    if file.is_dir():
        inside = file / "plan.json"
        hint = f"; did you mean {inside}?" if inside.is_file() else " (a plan.json written by `medimg plan`)"
        raise ConfigError(f"--config {file} is a folder: give the JSON file of plan fields{hint}")
    try:
        data = json.loads(file.read_text(), object_pairs_hook=_object_without_repeats)
    except FileNotFoundError as error:
        raise ConfigError(f"config file {file} does not exist") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {file} is not a JSON text file: {error}") from error
    except json.JSONDecodeError as error:
        raise ConfigError(f"config file {file} is not valid JSON: {_json_error_at(error)}") from error
    except _RepeatedKeyError as error:
        raise ConfigError(f"config file {file} gives {error} more than once: keep one of them") from error
    if not isinstance(data, dict):
        raise ConfigError(f"config file {file} must hold a JSON object of plan fields")
    return ConfigFileFields(data, file)


class ConfigFileFields(dict[str, Any]):
    """The plan fields of a config file, with the ``path`` they were read from: an invalid value is named in it."""

    def __init__(self, fields: dict[str, Any], path: Path) -> None:
        super().__init__(fields)
        self.path = path


def _json_error_at(error: json.JSONDecodeError) -> str:
    """The parser's message with the line it stopped on and a caret under the place, and the usual cause: JSON
    has no trailing commas, comments or single quotes (what a hand-edited plan.json most often has)."""
    lines = error.doc.splitlines()
    shown = ""
    if 0 < error.lineno <= len(lines):
        text = lines[error.lineno - 1]
        prefix = f"  {error.lineno} | "
        shown = f"\n{prefix}{text}\n{' ' * (len(prefix) + error.colno - 1)}^"
    before = error.doc[: error.pos].rstrip()
    if not error.doc.strip():
        return 'the file is empty: give a JSON object of plan fields, e.g. {"epochs": 5}'
    if before.endswith(",") and error.doc[error.pos : error.pos + 1] in "}]":
        hint = "remove the comma before it: JSON allows no trailing commas"
    elif error.doc[error.pos : error.pos + 2] in ("//", "/*") or error.doc[error.pos : error.pos + 1] == "#":
        hint = "JSON has no comments: remove them"
    elif error.doc[error.pos : error.pos + 1] == "'":
        hint = "JSON strings and field names take double quotes, not single ones"
    else:
        hint = "fix it there, or write the file again with `medimg plan DATA --out FOLDER`"
    return f"{error.msg} at line {error.lineno}, column {error.colno}{shown}\n{hint}"


class _RepeatedKeyError(ValueError):
    """A JSON object names a key twice."""


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _RepeatedKeyError(repr(key))
        seen[key] = value
    return seen


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """``["epochs=5", "augmentation.rotate_deg=0"]`` -> nested dict; values parsed as JSON when possible.

    A nested model given whole and field by field is merged in the order given (``augmentation={"scale": 0.2}``
    after ``augmentation.rotate_deg=5`` keeps both); a field given twice with different values takes the last,
    with a warning naming both.

    Raises:
        ConfigError: an item without ``=``, or a field given a value of its own and fields inside it
            (``epochs=5`` and ``epochs.x=1``).
    """
    result: dict[str, Any] = {}
    given: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set epochs=5")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key in given and given[key] != value:
            logger.warning("--set %s given twice (%s, then %s): the last is used", key, given[key], value)
        given[key] = value
        target = result
        *parents, leaf = key.split(".")
        for depth, parent in enumerate(parents):
            inner = target.setdefault(parent, {})
            if not isinstance(inner, dict):
                whole = ".".join(parents[: depth + 1])
                raise ConfigError(
                    f"--set {item!r}: {whole} was given the value {json.dumps(inner)}, which has no fields; "
                    f"give {whole} one value or set its fields"
                )
            target = inner
        if isinstance(value, dict) and isinstance(target.get(leaf), dict):
            target[leaf] = {**target[leaf], **value}  # merged with the fields set one by one before it
        else:
            target[leaf] = value
    return result


class PlanLayer(dict[str, Any]):
    """An override layer that medimg derives rather than the user gives (a teacher's input settings): its fields
    get ``reason`` in the plan instead of "set by user"."""

    def __init__(self, fields: dict[str, Any], reason: str) -> None:
        super().__init__(fields)
        self.reason = reason


#: planning reasons that describe the planned values of other fields: said as planned when those are set otherwise
DERIVED_REASONS = {"schedule": ("epochs", "iterations_per_epoch", "batch_size")}


def resolve_plan(planned: PlanT, *layers: dict[str, Any] | None) -> PlanT:
    """Apply override layers (config file, then arguments) on top of the planned values of any plan model
    (classification :class:`Plan`, segmentation ``SegPlan``).

    Unknown fields raise :class:`ConfigError` with close matches; values are validated by the plan model.
    Overridden fields get a reason "set by user" (a :class:`PlanLayer`'s fields, its own reason). ``None`` is a
    value too (``class_weights=None`` switches the planned weights off); callers leave a field out of the layer to
    keep the planned value. A nested model (``augmentation``) is updated field by field; one int for a per-axis
    ``*_size`` field applies to every axis.
    """
    plan_type = type(planned)
    data = planned.model_dump()
    known = field_help(plan_type)
    for layer in layers:
        _refuse_other_task(layer, data.get("task"))
        _refuse_other_spatial_dims(layer, data.get("spatial_dims"))
        if layer and "reasons" in layer:  # a saved plan.json: was it planned from this data?
            _refuse_fields_of_other_versions(layer, known)
            _warn_other_datas_plan(layer, data)
        reason = getattr(layer, "reason", "set by user")
        for key, value in (layer or {}).items():
            if key == "reasons":  # a saved plan.json carries its reasons: metadata, not a setting
                continue
            value = _nested_given_whole(plan_type, key, value, known)
            if isinstance(value, dict) and any(k.startswith(f"{key}.") for k in known):  # a nested model
                for sub, sub_value in value.items():
                    _check_known(f"{key}.{sub}", known)
                    data[key][sub] = sub_value
                data["reasons"][key] = reason
                continue
            _check_known(key, known)
            _refuse_bool_for_number(plan_type, key, value, data[key])
            if key.endswith("_size") and isinstance(value, int) and isinstance(data[key], list):
                value = [value] * int(data["spatial_dims"])  # one side length for every axis
            data[key] = value
            data["reasons"][key] = reason
    chosen = {key for layer in layers for key in (layer or {})}
    given = {key for layer in layers if layer and "reasons" not in layer for key in layer}  # not a saved plan's
    for reason, fields in DERIVED_REASONS.items():  # "200 epochs x 25 steps" when the user set 3 epochs
        if reason in data["reasons"] and (set_here := [f for f in fields if f in given]):
            data["reasons"][reason] += f" (as planned; {', '.join(set_here)} then set otherwise)"
    if chosen & {"spatial_dims", "input_size", "patch_size"}:
        _refuse_sizes_for_other_axes(data)
    try:
        resolved = plan_type.model_validate(data)
    except ValidationError as error:
        failing = {str(problem["loc"][0]) for problem in error.errors() if problem.get("loc")}
        setters = [next((layer for layer in reversed(layers) if layer and key in layer), None) for key in failing]
        files = sorted({str(layer.path) for layer in setters if isinstance(layer, ConfigFileFields)})
        where = f" in {', '.join(files)}" if files else ""  # --config plan.json: which file to edit
        raise ConfigError(f"invalid plan value{where}: {_problems(error)}") from error
    if isinstance(resolved, Plan) and chosen & {"input_size", "network"}:
        resolved = _network_as_registered(resolved)
        _refuse_input_too_small(resolved)
    if "amp" in chosen:
        resolved = _amp_as_it_will_run(resolved)
    _warn_unused_settings(resolved, given)
    return resolved


#: the classical (scikit-learn) models ``Model(name)`` and ``medimg fit --network`` train (:mod:`medimg.classical`)
CLASSICAL_MODELS = ("decision-tree", "random-forest", "svm", "logistic-regression", "gradient-boosting")

#: settings that apply only while another field has a value: ``field -> (that field, its values, the hint)``
ONLY_WITH: dict[str, tuple[str, tuple[Any, ...], str]] = {
    "step_milestones": ("scheduler", ("step",), "scheduler=step"),
    "momentum": ("optimizer", ("sgd",), "optimizer=sgd"),
    "budget_epochs_max": ("time_budget_s", (), "time_budget_s=SECONDS"),
    "ensemble_min_epochs": ("time_budget_s", (), "time_budget_s=SECONDS"),
}


def _warn_unused_settings(plan: BaseModel, given: set[str]) -> None:
    """Warn about a setting given that this plan does not use (``--set step_milestones=[0.3,0.6]`` under the
    planned cosine schedule trained as if it were not given), and intensity jitter given in the image's units
    (``--set augmentation.brightness=100``; said here so ``medimg plan`` warns as ``fit`` does, once)."""
    augmentation = getattr(plan, "augmentation", None)
    if "augmentation" in given and augmentation is not None:
        from medimg.transforms.augment import warn_intensity_units

        warn_intensity_units(augmentation)
    for key in sorted(given & set(ONLY_WITH)):
        other, values, hint = ONLY_WITH[key]
        current = getattr(plan, other, None)
        if not hasattr(plan, key) or (current in values if values else current is not None):
            continue
        logger.warning(
            "%s is given, but it applies only with %s and this plan has %s=%s: it is not used (add --set %s)",
            key,
            hint,
            other,
            json.dumps(current),
            hint,
        )


#: nested plan models whose defaults are all off: ``FIELD=null`` (or ``false``) switches every one of them off
OFF_WHEN_NULL = ("augmentation",)


def _nested_given_whole(plan_type: type[BaseModel], key: str, value: Any, known: dict[str, str]) -> Any:
    """A nested model (``augmentation``) given one value rather than its fields: ``null`` / ``false`` switches
    every augmentation off (it was "Input should be a valid dictionary or instance of AugmentationPlan"); any other
    value is refused naming the fields to set.

    Raises:
        ConfigError: a value that is not a JSON object of the nested model's fields.
    """
    fields = [k.split(".", 1)[1] for k in known if k.startswith(f"{key}.")]
    if not fields or isinstance(value, dict):
        return value
    if key in OFF_WHEN_NULL and value in (None, False):
        nested = plan_type.model_fields[key].annotation
        assert isinstance(nested, type) and issubclass(nested, BaseModel)
        defaults = nested().model_dump()  # each switched off: no flip, rotation, zoom... (detection flips by default)
        return {name: _switched_off(v) for name, v in defaults.items()}
    off = f"; {key}=null switches it off" if key in OFF_WHEN_NULL else ""
    raise ConfigError(
        f"{key} takes its fields, not {json.dumps(value)}: --set {key}.{fields[0]}=VALUE (fields: "
        f'{", ".join(fields)}), or a JSON object such as {key}={{"{fields[0]}": VALUE}}{off}'
    )


def _switched_off(value: Any) -> Any:
    """A setting's off value: ``False`` for a yes/no, ``[]`` for a list of axes, ``0`` for an amount."""
    if isinstance(value, bool):
        return False
    if isinstance(value, list):
        return []
    return 0 if isinstance(value, int | float) else value


def _refuse_other_task(layer: dict[str, Any] | None, task: Any) -> None:
    """A config of another task's plan (a segmentation plan.json given to a classification fit) was refused for
    its first field the other plan lacks ("unknown plan field 'patch_size'. Did you mean 'batch_size'")."""
    if layer and task is not None and "task" in layer and layer["task"] != task:
        raise ConfigError(
            f"the --config plan is a {layer['task']!r} plan, and this data is planned as {task!r}: give a plan.json "
            f"of a {task} run (`medimg plan DATA` writes one), or train that task with --task {layer['task']}"
        )


def _refuse_fields_of_other_versions(saved: dict[str, Any], known: dict[str, str]) -> None:
    """A saved plan.json naming fields this medimg's plan has not: written by another medimg version."""
    unknown = [key for key in saved if key != "reasons" and key not in known]
    if unknown:
        raise ConfigError(
            f"the --config plan names {', '.join(map(repr, unknown))}, which this medimg version's plan has not "
            f"(a plan.json of another medimg version?): delete {'them' if len(unknown) > 1 else 'it'} from the "
            "file, or make a new one with `medimg plan DATA`"
        )


def _amp_as_it_will_run(plan: PlanT) -> PlanT:
    """``amp=fp16`` asked for without a CUDA GPU trained in fp32 while plan.json said fp16 "set by user": say so,
    and record what runs (fp16 autocast and loss scaling are GPU-only; the CPU's mixed precision is bf16)."""
    if getattr(plan, "amp", None) != "fp16":
        return plan
    import torch

    if torch.cuda.is_available():
        return plan
    logger.warning(
        "amp=fp16 runs on a CUDA GPU only: on this CPU training runs in fp32 (amp=bf16 is the CPU's mixed precision)"
    )
    reasons = {**getattr(plan, "reasons", {}), "amp": "set by user: fp16, a GPU-only precision; fp32 on this CPU"}
    return plan.model_copy(update={"amp": "none", "reasons": reasons})


def _refuse_other_spatial_dims(layer: dict[str, Any] | None, measured: Any) -> None:
    """``spatial_dims`` is the data's (2 for images, 3 for volumes), not a choice: another value trained nothing
    and was refused only after the run folder was made, with an error about ``canonical_orientation``.

    Raises:
        ConfigError: ``layer`` gives ``spatial_dims`` other than ``measured``.
    """
    if not layer or "spatial_dims" not in layer or measured is None or layer["spatial_dims"] == measured:
        return
    given = layer["spatial_dims"]
    kind = {2: "2D (images)", 3: "3D (volumes)"}.get(int(measured), f"{measured}D")
    if "reasons" in layer:  # a saved plan.json
        raise ConfigError(
            f"the --config plan was made for {given}D data (spatial_dims {given}) and this data is {kind}: make "
            "this data's plan with `medimg plan DATA`, or delete spatial_dims and the fields measured with it "
            "(input_size, clip and normalisation values) from the file"
        )
    raise ConfigError(
        f"spatial_dims={json.dumps(given)}, but the data is {kind}: leave spatial_dims out, medimg takes it from "
        "the data"
    )


def _refuse_sizes_for_other_axes(data: dict[str, Any]) -> None:
    """An ``input_size`` / ``patch_size`` of another length than ``spatial_dims`` (three sizes for 2D images) was
    refused only when the network was built, after the run folder and its plan.json were written.

    Raises:
        ConfigError: naming the field, its value and the data's axes.
    """
    dims = data.get("spatial_dims")
    for name in ("input_size", "patch_size"):
        sizes = data.get(name)
        if isinstance(sizes, list) and isinstance(dims, int) and len(sizes) != dims:
            one = ",".join(["64"] * dims)
            raise ConfigError(
                f"{name} {json.dumps(sizes)} has {len(sizes)} axes, but the data is {dims}D: give one size per "
                f"axis ({name}=[{one}]) or a single number for every axis ({name}=64)"
            )


def _network_as_registered(plan: PlanT) -> PlanT:
    """``network`` as the registry spells it (``ResNet-18`` is ``resnet18``, as fit reads it): `medimg plan --set
    network=ResNet18` planned a half-width "ResNet18" where fit trains a quarter-width resnet18."""
    from medimg.networks import list_networks
    from medimg.registry import spelled_as

    network = str(getattr(plan, "network", ""))
    found = spelled_as(network, list_networks())
    return plan if found is None or found == network else plan.model_copy(update={"network": found})


def _refuse_input_too_small(plan: Plan) -> None:
    """An ``input_size`` below what ``network`` takes (ResNet-18 at 3 px) was refused only when the network was
    built, after the run folder and its plan.json were written.

    Raises:
        ConfigError: naming the smallest size the network takes; an unknown network (with close matches).
    """
    from medimg.networks import network_info

    try:
        smallest = network_info(plan.network).min_input_size
    except ConfigError as error:  # `medimg plan --set network=foo` printed a plan "foo at half width"
        if plan.network in CLASSICAL_MODELS:
            raise ConfigError(
                f"network={plan.network} is a classical model: it has no deep-learning plan (`medimg fit DATA "
                f"--network {plan.network}` trains it)"
            ) from error
        raise
    if min(plan.input_size) < smallest:
        raise ConfigError(
            f"input_size {plan.input_size} is too small for network {plan.network!r}: every side must be at "
            f"least {smallest} pixels: give input_size={smallest} or more (images are resized to it)"
        )


#: plan fields measured on the training data (its channels and intensities), not chosen
DATA_FIELDS = ("spatial_dims", "in_channels", "clip_low", "clip_high", "norm_mean", "norm_std")


def _warn_other_datas_plan(saved: dict[str, Any], planned: dict[str, Any]) -> None:
    """Say when a plan.json given as --config was measured on other data: its channel count and intensity
    statistics replace this data's (an RGB set's plan on grey images: 3 channels, its clip range and mean).
    Intensities count as the same within 5% of this data's clipped range (percentiles of sampled pixels vary)."""
    low, high = planned.get("clip_low"), planned.get("clip_high")
    span = abs(float(high) - float(low)) if isinstance(low, (int, float)) and isinstance(high, (int, float)) else 1.0
    differ = []
    for key in DATA_FIELDS:
        ours, theirs = planned.get(key), saved.get(key)
        if not isinstance(ours, (int, float)) or not isinstance(theirs, (int, float)):
            continue
        if isinstance(ours, int) and key in {"spatial_dims", "in_channels"}:
            if int(theirs) != ours:
                differ.append(f"{key} {theirs} (this data: {ours})")
        elif abs(float(theirs) - float(ours)) > 0.05 * max(span, 1e-6):
            differ.append(f"{key} {float(theirs):.4g} (this data: {float(ours):.4g})")
    if differ:
        logger.warning(
            "the --config plan was measured on other data: %s; these values are used as given (run `medimg plan "
            "DATA` for this data's, or delete these fields from the file to plan them here)",
            ", ".join(differ),
        )


def _refuse_bool_for_number(plan_type: type[BaseModel], key: str, value: Any, planned: Any) -> None:
    """A yes/no for a field that takes no bool: pydantic reads ``true`` as 1 (``epochs=true`` trained one epoch).

    Raises:
        ConfigError: ``value`` is a bool and the field ``key`` has no bool among its types.
    """
    field = plan_type.model_fields.get(key)
    if not isinstance(value, bool) or field is None:
        return
    annotation = field.annotation
    types = set(typing.get_args(annotation)) | {annotation}
    if bool not in types and Any not in types:
        example = f"a value (planned: {json.dumps(planned)})" if planned is not None else "a value"
        off = f", or {key}=null to switch it off" if type(None) in types else ""
        given = str(value).lower()
        raise ConfigError(f"plan field {key!r} is not a yes/no setting: give it {example}{off}, not {given}")


#: other libraries' names for medimg's settings (PyTorch Lightning, Keras, scikit-learn, Ultralytics, timm)
SYNONYMS = {
    "lr": "learning_rate", "learningrate": "learning_rate", "max_epochs": "epochs", "num_epochs": "epochs",
    "n_epochs": "epochs", "batch": "batch_size", "bs": "batch_size", "batchsize": "batch_size",
    "imgsz": "input_size", "image_size": "input_size", "img_size": "input_size", "resolution": "input_size",
    "pretrained": "weights_path", "weights": "weights_path", "checkpoint": "weights_path",
    "random_state": "seed", "random_seed": "seed", "manual_seed": "seed", "verbose": "progress",
    "patience": "early_stopping_patience", "validation_split": "val_fraction", "wd": "weight_decay",
    "arch": "network", "model": "network", "backbone": "network", "mixed_precision": "amp",
}  # fmt: skip
DEVICE_NOTE = (
    "medimg chooses the device itself: CUDA when a GPU is present, else the CPU (CUDA_VISIBLE_DEVICES= forces the "
    "CPU; CUDA_VISIBLE_DEVICES=1 picks a GPU); there is no device setting"
)


def _check_known(key: str, known: dict[str, str], choices: Sequence[str] | None = None) -> None:
    if key not in known:
        options = list(choices) if choices is not None else list(known)
        if key.lower() in {"device", "devices", "gpus", "gpu", "accelerator"}:
            raise ConfigError(f"unknown plan field {key!r}: {DEVICE_NOTE}.")
        if key in FitOptions.model_fields and key not in options:  # `medimg plan --set test_fraction=0`
            flag = "--" + key.replace("_", "-")
            raise ConfigError(
                f"{key!r} is a run option, not a plan field: give it as {flag} (medimg fit), {key}= in Python"
            )
        meant = SYNONYMS.get(key.lower())
        if meant is not None and meant in FitOptions.model_fields:  # a run option, not a plan field
            flag = "--" + meant.replace("_", "-")
            raise ConfigError(f"{key!r}: medimg calls it {meant!r}, a run option ({flag}; {meant}= in Python)")
        hint = f" medimg calls it {meant!r}." if meant in options else did_you_mean(key, options)
        raise ConfigError(f"unknown plan field {key!r}.{hint} See `medimg plan --help`.")


def check_overrides(plan_type: type[BaseModel], overrides: dict[str, Any], other_fields: Sequence[str] = ()) -> None:
    """Check plan overrides before any image is read: every name is a field of ``plan_type`` (or one of
    ``other_fields``, e.g. run options) and every value is valid for its field on its own.

    Raises:
        ConfigError: an unknown name (with close matches) or an invalid value (naming the field).
    """
    known = field_help(plan_type)
    defaults = plan_type().model_dump()
    options = {k: v for k, v in overrides.items() if k in FitOptions.model_fields}
    try:
        FitOptions(**options)
    except ValidationError as error:
        flags = {"num_threads": "threads"}  # medimg fit's flag of each run option, where not its name
        problems = "; ".join(
            f"--{flags.get(str(e['loc'][0]), str(e['loc'][0])).replace('_', '-')} ({'.'.join(map(str, e['loc']))}=): "
            f"{e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"invalid option {problems}") from error
    aliases: dict[str, str] = getattr(plan_type, "FIELD_ALIASES", {})  # segmentation's input_size: patch_size
    for given_key, value in overrides.items():
        if given_key in other_fields or given_key == "reasons":
            continue
        key = aliases.get(given_key, given_key)
        if key in known:
            value = _nested_given_whole(plan_type, key, value, known)
        if isinstance(value, dict) and any(k.startswith(f"{key}.") for k in known):
            for sub in value:
                _check_known(f"{key}.{sub}", known, choices=[*known, *other_fields])
        else:
            _check_known(key, known, choices=[*known, *other_fields])
        if key == "weights_path" and value:  # before any image is read, not after
            from medimg.networks.weights import weights_file

            weights_file(value)
        if key.endswith("_size") and isinstance(value, int) and isinstance(defaults.get(key), list):
            value = [value, value]  # one side length for every axis, as resolve_plan expands it
        try:
            plan_type.model_validate({key: value})
        except ValidationError as error:
            problems = _problems(error).removeprefix(f"{key}: ")  # 'batch_size: batch_size: Input should...'
            field = key
            if problems.startswith(f"{key}.") and ": " in problems:  # a nested field: named once, whole
                field, problems = problems.split(": ", 1)
            raise ConfigError(f"invalid value for {field}: {problems}") from error


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
