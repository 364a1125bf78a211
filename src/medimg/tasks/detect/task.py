"""Detection as a :class:`~medimg.tasks.base.Task`: images with boxes (Pascal VOC, COCO, CSV boxes).

What is detection-specific lives in this package: the fingerprint and plan (:mod:`.fingerprint`, :mod:`.plan`),
preparing images and the augmented batch source (:mod:`.data`), the detectors (:mod:`.networks`), running them
and choosing the decoding (:mod:`.inference`), the training loss and decoding choice 2D and 3D share
(:mod:`.training`), metrics (:mod:`.metrics`), evaluation and its report
(:mod:`.evaluate`, :mod:`.report`) and prediction (:mod:`.predict`). The loop, budget, checkpoints, resume,
distributed training, run and bundle are the engine's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from torch import nn

from medimg.config import FitOptions, resolve_plan
from medimg.data.case import Case
from medimg.data.labels import class_key
from medimg.engine.distributed import Distributed
from medimg.engine.run import TrainingSetup
from medimg.engine.trainer import TaskHooks
from medimg.errors import ConfigError, DatasetError
from medimg.tasks.base import Planned, Trained, run_details
from medimg.tasks.detect.plan import DetectPlan
from medimg.tasks.detect.training import decoding_chooser, loss_of_detector

if TYPE_CHECKING:
    from medimg.planning.domain import InputReader

logger = logging.getLogger(__name__)


#: the least share of the detector's weights (elements) a ``--weights`` file must fill: a run's weights under a head
#: for another number of classes fill nearly all of them; another network or size fills (almost) none
MIN_LOADED_SHARE = 0.5

#: plan fields that set the detector's tensor shapes, named when a ``--weights`` file was saved at other sizes
SHAPE_FIELDS = ("backbone_widths", "backbone_depths", "fpn_channels", "head_convs")


def load_initial_weights(network: nn.Module, path: Path) -> None:
    """Fill ``network`` with the tensors of the weights file ``path`` (a run's ``model.pt`` or a state dict) that
    have its names and shapes; the rest (a class head for another number of classes) keep their initialisation.

    Raises:
        ConfigError: less than :data:`MIN_LOADED_SHARE` of the detector's weights match: the file holds another
            network, or this one at other sizes (a torch ``size mismatch`` traceback before).
        RunFolderError: the file is missing or unreadable.
    """
    from medimg.engine.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    weights = state.get("model", state)
    own = network.state_dict()
    fits = {k: v for k, v in weights.items() if k in own and getattr(v, "shape", None) == own[k].shape}
    other_shape = [k for k in weights if k in own and k not in fits]
    total = sum(v.numel() for v in own.values())
    share = sum(own[k].numel() for k in fits) / total if total else 0.0
    if share < MIN_LOADED_SHARE:
        raise ConfigError(
            f"--weights {path}: {len(fits)} of the detector's {len(own)} tensors match it ({share:.0%} of its "
            f"weights; {len(other_shape)} of another shape, {len(set(own) - set(weights))} missing): it was saved "
            f"from another network or at other sizes{_other_sizes(path)}; give weights of this detector, "
            "or set the sizes of the run it came from"
        )
    network.load_state_dict(fits, strict=False)
    logger.info(
        "initial weights %s: %d of %d tensors (%.0f%% of the weights)%s",
        path,
        len(fits),
        len(own),
        100 * share,
        f"; {len(other_shape)} of another shape keep their initialisation, e.g. {other_shape[0]}"
        if other_shape
        else "",
    )


def _other_sizes(path: Path) -> str:
    """`` (its run's plan.json: --set backbone_widths=[...] ...)``: the shape-setting fields of the run folder a
    weights file lies in (``RUN/model.pt`` or ``RUN/checkpoints/...``), when one is found."""
    import json

    for folder in (path.parent, path.parent.parent):
        plan_file = folder / "plan.json"
        if not plan_file.is_file():
            continue
        try:
            saved = json.loads(plan_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        fields = [f for f in SHAPE_FIELDS if f in saved]
        sizes = " ".join(f"--set {f}={json.dumps(saved[f]).replace(' ', '')}" for f in fields)
        network_name = saved.get("network")
        prefix = f"--network {network_name} " if network_name else ""
        return f" (its run's {plan_file}: {prefix}{sizes})" if sizes or prefix else ""
    return ""


class DetectTask:
    """Object detection with torchvision's FCOS / RetinaNet on a small ResNet + FPN (2D) or MONAI's RetinaNet on
    a small 3D ResNet + FPN (volumes: :mod:`.task3d`), trained from scratch."""

    name = "detect"
    plan_type = DetectPlan
    trains_without_validation = False
    data_options: tuple[str, ...] = ()

    def check_network(self, name: str) -> str:
        from medimg.tasks.detect.networks import check_network_name

        return check_network_name(name)

    def load_dataset(self, path: str | Path, **options: Any) -> Any:
        from medimg.data.dataset import Dataset
        from medimg.data.detection import DetectionDataset

        dataset = Dataset.load(path, task="detect", **options)  # type: ignore[call-overload]
        if not isinstance(dataset, DetectionDataset):
            raise DatasetError(f"{path} was not read as detection data")
        return dataset

    def split_cases(self, dataset: Any) -> list[Case]:
        from medimg.data.identical_files import mark_identical_files

        return mark_identical_files(dataset.cases, getattr(dataset, "root", None))

    def fingerprint(self, dataset: Any, train_cases: Sequence[Any], options: FitOptions) -> tuple[BaseModel, Any]:
        """Image and box sizes from the annotations, intensities from a sample; the cases are read in ``setup``."""
        from medimg.tasks.detect.fingerprint import extract_detect_fingerprint
        from medimg.tasks.detect.task3d import is_volume_dataset

        if is_volume_dataset(dataset):
            from medimg.tasks.detect.fingerprint3d import extract_detect3d_fingerprint

            return extract_detect3d_fingerprint(dataset, list(train_cases), seed=options.seed), list(train_cases)
        return extract_detect_fingerprint(dataset, list(train_cases), seed=options.seed), list(train_cases)

    def propose_plan(self, fingerprint: Any, *, bf16_supported: bool) -> DetectPlan:
        from medimg.tasks.detect.plan import make_detect_plan

        if getattr(fingerprint, "spatial_dims", 2) == 3:
            from medimg.tasks.detect.plan3d import make_detect3d_plan

            return make_detect3d_plan(fingerprint)
        return make_detect_plan(fingerprint, bf16_supported=bf16_supported)

    def resolve_plan(self, planned: Any, *layers: dict[str, Any] | None) -> DetectPlan:
        plan = resolve_plan(planned, *layers)
        check_plan(plan)
        return plan

    def setup(
        self, dataset: Any, planned: Planned, val_cases: Sequence[Any], options: FitOptions, distributed: Distributed
    ) -> TrainingSetup:
        from medimg.tasks.detect.data import DetectionBatches, prepare_cases
        from medimg.tasks.detect.inference import validation_map

        plan = planned.plan
        assert isinstance(plan, DetectPlan)
        if plan.spatial_dims == 3:
            from medimg.tasks.detect.task3d import setup_3d

            return setup_3d(dataset, planned, val_cases, options, distributed, self.build_network)
        train = prepare_cases(
            dataset,
            planned.loaded,
            plan,
            strict=options.strict,
            progress=options.progress,
            desc="reading training images",
            quantise=True,
        )
        planned.loaded = None
        step = max(1, len(val_cases) / plan.max_val_images)
        monitored = [val_cases[int(i * step)] for i in range(min(len(val_cases), plan.max_val_images))]
        val = prepare_cases(
            dataset,
            monitored,
            plan,
            strict=options.strict,
            progress=options.progress,
            desc="reading validation images",
            quantise=True,
        )
        if not len(train) or not len(val):
            raise DatasetError(f"{dataset.root}: no readable training or validation image")
        truths = [(b.numpy(), lab.numpy()) for b, lab in zip(val.boxes, val.labels, strict=True)]
        batches = DetectionBatches(train, plan.batch_size, plan.augmentation, distributed=distributed)
        hooks = TaskHooks(
            loss=loss_of_detector, validate=lambda network: validation_map(network, val.images, truths, plan)
        )
        return TrainingSetup(
            batches=batches,
            hooks=hooks,
            build=self.build_network,
            class_names=list(plan.class_names),
            input_spec={
                "spatial_dims": 2,
                "channels": plan.in_channels,
                "size": plan.input_size,
                "window": list(dataset.window) if isinstance(dataset.window, tuple) else dataset.window,
            },
            summary={
                "train_images": len(train),
                "train_boxes": int(sum(len(b) for b in train.boxes)),
                "val_images": len(val),
            },
            skipped=[*train.skipped, *val.skipped],
            after_training=decoding_chooser(val.images, truths),
        )

    def build_network(self, plan: Any, *, initial_weights: bool = True) -> nn.Module:
        from medimg.tasks.detect.networks import build_detector

        if plan.spatial_dims == 3:
            from medimg.tasks.detect.networks3d import build_detector_3d

            network: nn.Module = build_detector_3d(plan)
        else:
            network = build_detector(plan)
        if initial_weights and plan.weights_path:
            load_initial_weights(network, Path(plan.weights_path))
        return network

    def evaluate(
        self,
        model: Trained,
        dataset: Any,
        cases: Sequence[Any],
        *,
        split: str,
        out_dir: Path,
        n_resamples: int,
        strict: bool,
    ) -> Any:
        from medimg.planning.domain import load_training_domain
        from medimg.tasks.detect.evaluate import evaluate_cases

        plan = model.plan_
        assert model.network_ is not None and plan is not None
        cases = cases_in_run_classes(dataset, cases, plan.class_names, run=str(model.run_dir_ or "this model"))
        if plan.spatial_dims == 3:
            from medimg.tasks.detect.evaluate3d import evaluate_volumes

            evaluate = evaluate_volumes
        else:
            evaluate = evaluate_cases
        return evaluate(
            model.network_,
            plan,
            dataset,
            cases,
            split=split,
            out_dir=out_dir,
            n_resamples=n_resamples,
            strict=strict,
            extra=run_details(model),
            domain=load_training_domain(model.run_dir_),
        )

    def predict(
        self,
        model: Trained,
        files: Sequence[Path],
        *,
        explain: str | None,
        out_dir: Path | None,
        reader: InputReader | None = None,
    ) -> tuple[list[Any], list[tuple[str, str]]]:
        from medimg.planning.domain import InputReader
        from medimg.tasks.detect.predict import predict_files

        if explain is not None:
            raise ConfigError("explain is not available for detection models: the boxes are the explanation")
        assert model.network_ is not None
        reader = reader or InputReader.for_run(model)
        from medimg.run_folder import predictions_dir, release_if_empty

        folder = Path(out_dir) if out_dir else predictions_dir(model.run_dir_)
        if model.plan_.spatial_dims == 3:
            from medimg.tasks.detect.predict3d import predict_volumes

            volumes, failed = predict_volumes(
                model.network_, model.plan_, list(files), out_dir=folder, read=reader.read
            )
            found: tuple[list[Any], list[tuple[str, str]]] = (list(volumes), failed)
        else:
            found = predict_files(model.network_, model.plan_, list(files), out_dir=folder, read=reader.read)
        if not out_dir:
            release_if_empty(folder)
        return found


def check_plan(plan: DetectPlan) -> None:
    """Raise :class:`ConfigError` when the plan's parts disagree."""
    if len(plan.class_names) != plan.num_classes:
        raise ConfigError(f"class_names has {len(plan.class_names)} names for {plan.num_classes} classes")
    if plan.spatial_dims == 3:
        from medimg.tasks.detect.task3d import check_plan_3d

        check_plan_3d(plan)
        return
    if plan.network == "retinanet3d":
        raise ConfigError("retinanet3d detects in volumes; this plan is 2D (fcos or retinanet)")
    if len(plan.anchor_sizes) != len(plan.fpn_strides):
        raise ConfigError(f"anchor_sizes needs one size per FPN level ({len(plan.fpn_strides)}): {plan.anchor_sizes}")
    if not set(plan.fpn_strides) <= {8, 16, 32} or sorted(plan.fpn_strides) != plan.fpn_strides:
        raise ConfigError(f"fpn_strides must be increasing values of 8, 16, 32; got {plan.fpn_strides}")
    if len(plan.backbone_widths) != 4 or len(plan.backbone_depths) != 4:
        raise ConfigError("backbone_widths and backbone_depths need 4 values (one per stage)")
    if len(plan.input_size) != 2:
        raise ConfigError(f"input_size is [height, width]; got {plan.input_size}")
    if len(plan.norm_mean) != plan.in_channels or len(plan.norm_std) != plan.in_channels:
        raise ConfigError(f"norm_mean and norm_std need {plan.in_channels} value(s), one per channel")


DETECT = DetectTask()


def cases_in_run_classes(
    dataset: Any, cases: Sequence[Case], class_names: Sequence[str], *, run: str = "this model"
) -> list[Case]:
    """``cases`` with their box labels re-indexed from ``dataset.class_names`` to the run's ``class_names``, by
    name (exactly, else as one class's spellings: :func:`medimg.data.labels.class_key`, surrounding spaces ignored):
    another dataset numbers its classes its own way (a
    CSV alphabetically over the classes it holds, COCO by category id).

    Raises:
        DatasetError: boxes of a class the run does not detect (naming them and the run's classes).
    """
    own = list(getattr(dataset, "class_names", None) or [])
    run_names = list(class_names)
    if own == run_names:
        return list(cases)
    exact = {name: i for i, name in enumerate(run_names)}
    folded = {class_key(name.strip()): i for i, name in enumerate(run_names)}
    mapping: dict[int, int] = {}
    unknown: dict[str, int] = {}
    counts: dict[int, int] = {}
    for case in cases:
        for box in case.boxes or ():
            counts[box.label] = counts.get(box.label, 0) + 1
    for index, name in enumerate(own):
        target = exact.get(name, folded.get(class_key(str(name).strip())))
        if target is not None:
            mapping[index] = target
        elif counts.get(index):
            unknown[str(name)] = counts[index]
    if unknown:
        listed = ", ".join(f"{name!r} ({n} box{'es' if n != 1 else ''})" for name, n in unknown.items())
        raise DatasetError(
            f"{getattr(dataset, 'name', 'the data')} holds class(es) {run} does not detect: {listed}; the run's "
            f"classes are {', '.join(map(repr, run_names))}. Classes are matched by name: rename those boxes to one "
            "of the run's classes, or remove their rows, to evaluate on this data"
        )
    renamed = [f"{own[i]!r} -> {run_names[j]!r}" for i, j in mapping.items() if own[i] != run_names[j]]
    if renamed:
        logger.info("classes matched to the run's by name, ignoring case: %s", ", ".join(renamed))
    present = {mapping[i] for i in counts if i in mapping}
    absent = [name for j, name in enumerate(run_names) if j not in present]
    if not counts:
        logger.info(
            "%s holds no box (normal images): the report measures false positives per image; AP and FROC are "
            "not defined",
            getattr(dataset, "name", "the data"),
        )
    elif absent:
        logger.warning(
            "%s has no box of the run's class(es) %s: their AP is not defined (they count only as false positives)",
            getattr(dataset, "name", "the data"),
            ", ".join(map(repr, absent)),
        )
    return [
        replace(case, boxes=tuple(box._replace(label=mapping[box.label]) for box in case.boxes)) if case.boxes else case
        for case in cases
    ]
