"""Segmentation as a :class:`~medimg.tasks.base.Task`: image/mask pairs, 2D and 3D.

What is segmentation-specific lives in this package: mask encodings (:mod:`.labels`), the fingerprint and plan
(:mod:`.planning`), reading and preparing cases (:mod:`.cases`), patch sampling (:mod:`.sampling`), networks and
losses, sliding-window inference and post-processing (:mod:`.inference`), metrics and the report section. The
loop, ensembles, budget, checkpoints, distributed training, run and bundle are the engine's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn

from medimg.config import FitOptions
from medimg.data.case import Case
from medimg.engine.batches import BatchSource, SampledBatches
from medimg.engine.distributed import Distributed
from medimg.engine.run import TrainingSetup
from medimg.engine.trainer import TaskHooks
from medimg.errors import ConfigError, DatasetError
from medimg.io.orientation import check_recorded_orientation, read_as_trained
from medimg.tasks.base import Planned, Trained, run_details
from medimg.tasks.segment.planning import SegPlan

if TYPE_CHECKING:
    from medimg.planning.domain import InputReader
    from medimg.tasks.segment.scale import TrainingScale
    from medimg.tasks.segment.store import CaseStore

logger = logging.getLogger(__name__)

#: patch batches a background thread draws ahead when training on a GPU, so the host samples and augments the next
#: batch while the device trains (the hippocampus loop kept an H200 9% busy sampling in turn). Not on the CPU:
#: there the network already takes both cores (hippocampus, 6 epochs x 2: 24-39 patches/s either way, no gain).
PREFETCH_ON_GPU = 2


class SegmentTask:
    """Semantic segmentation with MONAI U-Nets, trained on foreground-aware patches."""

    name = "segment"
    plan_type = SegPlan
    trains_without_validation = True
    data_options: tuple[str, ...] = ("colour_table", "rle_order")

    def check_network(self, name: str) -> str:
        from medimg.tasks.segment.networks import check_network_name

        return check_network_name(name)

    def load_dataset(self, path: str | Path, **options: Any) -> Any:
        from medimg.tasks.segment.data import SegmentationDataset

        return SegmentationDataset.load(path, **options)

    def split_cases(self, dataset: Any) -> list[Case]:
        from medimg.data.identical_files import mark_identical_files

        return mark_identical_files([c.as_case() for c in dataset.cases], getattr(dataset, "root", None))

    def fingerprint(self, dataset: Any, train_cases: Sequence[Any], options: FitOptions) -> tuple[BaseModel, Any]:
        """Two passes over the training cases (the label encoding needs every mask's values before the labels can
        be summarised); the cases stay in memory for training when they fit the case-memory budget
        (:class:`~medimg.tasks.segment.cases.CaseReader`), else each pass reads them again."""
        from medimg.tasks.segment.cases import CaseReader, determine_dataset_encoding, one_dimensionality
        from medimg.tasks.segment.class_names import class_names_for, value_names_of
        from medimg.tasks.segment.field_of_view import FieldOfViewLearner
        from medimg.tasks.segment.planning import extract_seg_fingerprint
        from medimg.tasks.segment.preprocess import decode_labels

        unpaired = list(getattr(dataset, "unpaired", None) or [])
        if options.strict and unpaired:  # the loader only warned: fit does not pass --strict to it
            from medimg.data.layouts.image_mask_pairs import unpaired_masks_message

            raise DatasetError(
                unpaired_masks_message(unpaired, dataset.root)
                + " (--strict refuses them; without it they are skipped with a warning)"
            )
        reader = CaseReader(
            dataset, train_cases, strict=options.strict, progress=options.progress, desc="reading training cases"
        )
        value_names = value_names_of(dataset)  # read once: the encoding and the class names both need it
        encoding = determine_dataset_encoding(dataset, (sample for _, sample in reader), value_names)
        names = class_names_for(encoding, value_names)
        provisional = SegPlan(num_classes=encoding.num_classes, label_encoding=encoding, class_names=names)
        field_of_view = FieldOfViewLearner()

        def summarised() -> Iterator[tuple[Any, Any, Any, Any]]:
            for case, sample in one_dimensionality(reader):
                field_of_view.add(sample.image.array, sample.roi)
                mask = sample.mask
                labels = decode_labels(mask, sample.roi, provisional, str(case.mask)) if mask is not None else None
                yield sample.image.array, labels, sample.image.spacing_mm, sample.image.meta

        fingerprint = extract_seg_fingerprint(
            dataset.name, summarised(), len(reader), encoding, names, seed=options.seed
        )
        learned = {"field_of_view": field_of_view.rule(), "roi_mask_cases": field_of_view.cases_with_mask}
        return fingerprint.model_copy(update=learned), reader

    def propose_plan(self, fingerprint: Any, *, bf16_supported: bool) -> SegPlan:
        from medimg.tasks.segment.planning import make_seg_plan

        return make_seg_plan(fingerprint, bf16_supported=bf16_supported)

    def resolve_plan(self, planned: Any, *layers: dict[str, Any] | None) -> SegPlan:
        from medimg.tasks.segment.labels import unused_classes
        from medimg.tasks.segment.planning import resolve_seg_plan

        plan = resolve_seg_plan(planned, *layers)
        unused = unused_classes(plan.label_encoding)
        if unused and len(plan.class_names) == plan.num_classes - len(unused):
            # names for the classes the masks hold (0/1/4/7): the empty classes between them keep generic names
            given = iter(plan.class_names)
            names = [f"class_{k}" if k in unused else next(given) for k in range(plan.num_classes)]
            plan = plan.model_copy(update={"class_names": names})
        if len(plan.class_names) != plan.num_classes:
            used = plan.num_classes - len(unused)
            either = f" (or {used} for the classes the masks hold)" if unused else ""
            raise ConfigError(f"class_names has {len(plan.class_names)} names for {plan.num_classes} classes{either}")
        return plan

    def setup(
        self, dataset: Any, planned: Planned, val_cases: Sequence[Any], options: FitOptions, distributed: Distributed
    ) -> TrainingSetup:
        from medimg.tasks.segment.cases import CaseReader, prepare_cases, validation_dice
        from medimg.tasks.segment.sampling import PatchSampler
        from medimg.tasks.segment.store import CaseStore

        plan = planned.plan
        assert isinstance(plan, SegPlan)
        check_recorded_orientation(plan.canonical_orientation, plan.spatial_dims, dataset)
        if plan.deep_supervision and options.unlabelled is not None:  # before any case is prepared
            raise ConfigError(
                "deep_supervision is not combined with --unlabelled yet: --set deep_supervision=0 for "
                "semi-supervised training"
            )
        progress = options.progress
        reader: CaseReader = planned.loaded
        planned.loaded = None
        store = CaseStore(planned.run_dir)  # prepared cases beyond the budget are memory-mapped
        train_prepared, _ = prepare_cases(reader, plan, keep_labels=False, store=store, pad_to_patch=True)
        skipped = list(reader.skipped)
        train_ids = {c.case_id for c in reader.readable or []}
        del reader
        val_reader = CaseReader(
            dataset, val_cases, strict=options.strict, progress=progress, desc="reading validation cases", budget=0
        )
        val_prepared, val_truths = prepare_cases(val_reader, plan, store=store)
        skipped += val_reader.skipped
        del val_reader
        sampler = PatchSampler(
            [c.image for c in train_prepared],
            [c.labels for c in train_prepared if c.labels is not None],
            plan.patch_size,
            plan.foreground_fraction,
            plan.augmentation,
            seed=options.seed,
        )
        n_train = len(sampler)
        del train_prepared
        step = max(1, len(val_prepared) / plan.max_val_cases)
        monitored = [val_prepared[int(i * step)] for i in range(min(len(val_prepared), plan.max_val_cases))]
        batches = SampledBatches(
            sampler,
            plan.batch_size,
            plan.iterations_per_epoch,
            unit="patches",
            memory_format=_memory_format(plan),
            distributed=distributed,
            prefetch=PREFETCH_ON_GPU if distributed.device.type == "cuda" else 0,
        )
        hooks = TaskHooks(
            loss=_loss(plan),
            validate=(lambda network: validation_dice(network, monitored, plan)) if val_cases else None,
        )
        summary: dict[str, Any] = {"train_cases": n_train, "val_cases": len(val_prepared)}
        after_training = (
            _postprocessing_chooser(val_prepared, val_truths, store) if val_cases else _postprocessing_unchosen
        )
        source: BatchSource = batches
        if options.unlabelled is not None:  # semi-supervised: pool patches join every batch, the loss uses them
            from medimg.tasks.segment.semi_supervised import setup_semi_supervised

            semi = setup_semi_supervised(dataset, train_ids, plan, batches, options, distributed, store=store)
            source, hooks = semi.batches, semi.hooks(hooks.validate)
            after_training = semi.after_training(after_training)
            summary["unlabelled_images"] = semi.summary["unlabelled_images"]
            skipped += semi.skipped
        if store.on_disk:
            summary["prepared_arrays_memory_mapped"] = store.on_disk
        return TrainingSetup(
            batches=source,
            hooks=hooks,
            build=self.build_network,
            class_names=list(plan.class_names),
            input_spec={
                "spatial_dims": plan.spatial_dims,
                "channels": plan.in_channels,
                "patch_size": plan.patch_size,
                "window": list(dataset.window) if isinstance(dataset.window, tuple) else dataset.window,
            },
            summary=summary,
            skipped=skipped,
            after_training=after_training,
        )

    def build_network(self, plan: Any, *, initial_weights: bool = True) -> nn.Module:
        from medimg.tasks.segment.networks import build_segmentation_network

        return build_segmentation_network(plan)

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
        scale: float | None = None,
        mask_labels: str | Path | Mapping[str, str] | None = None,
        own_data: bool = False,
    ) -> Any:
        """Evaluate ``cases`` (see :func:`~medimg.tasks.segment.evaluate.evaluate_cases`); ``scale`` resizes every
        image before the network, ``mask_labels`` (:func:`~medimg.tasks.segment.external.parse_mask_labels`) says
        which mask value is which class; ``own_data``: the cases are of the run's training data."""
        from medimg.planning.domain import load_training_domain
        from medimg.tasks.segment.evaluate import evaluate_cases
        from medimg.tasks.segment.external import parse_mask_labels
        from medimg.tasks.segment.scale import validate_scale

        plan = model.plan_
        assert model.network_ is not None and plan is not None
        dataset = in_trained_channel_order(read_as_trained(dataset, plan.canonical_orientation), model)
        return evaluate_cases(
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
            training_scale=_training_scale(model),
            scale=validate_scale(scale),
            mask_labels=parse_mask_labels(mask_labels),
            own_data=own_data,
        )

    def predict(
        self,
        model: Trained,
        files: Sequence[Path],
        *,
        explain: str | None,
        out_dir: Path | None,
        reader: InputReader | None = None,
        scale: float | None = None,
    ) -> tuple[list[Any], list[tuple[str, str]]]:
        """Segment ``files`` (see :func:`~medimg.tasks.segment.evaluate.predict_files`); ``scale`` resizes every
        input before the network (masks come back at the input's size)."""
        from medimg.planning.domain import InputReader
        from medimg.tasks.segment.evaluate import predict_files
        from medimg.tasks.segment.scale import validate_scale

        if explain is not None:
            raise ConfigError("explain is not available for segmentation models: the predicted mask is the output")
        plan: SegPlan = model.plan_
        assert model.network_ is not None
        from medimg.run_folder import predictions_dir, release_if_empty

        reader = reader or InputReader.for_run(model)
        reader.scale = factor = validate_scale(scale)  # the domain check judges sizes as the network sees them
        target = Path(out_dir) if out_dir else predictions_dir(model.run_dir_)  # claimed (created) once checked
        colours = None
        table = plan.label_encoding.colour_table
        if table is not None:
            lookup = {label: colour for colour, label in table.lookup().items() if label < plan.num_classes}
            colours = {label: lookup[label] for label in sorted(lookup)}
        found = predict_files(
            model.network_,
            plan,
            list(files),
            target,
            colours=colours,
            read=reader.read,
            scale=factor,
            training_scale=_training_scale(model),
        )
        if not out_dir:
            release_if_empty(target)
        if found[0] and plan.field_of_view is not None:
            logger.info("predictions are background %s", plan.field_of_view.describe())
        elif found[0] and _trained_with_field_of_view(model):
            logger.warning(
                "this model was trained with region-of-interest masks: outside them its output was never trained "
                "(a tester's fundus model drew lesion on most of the black border), and they were not their images' "
                "bright region, so predict cannot find them in these images: read each mask inside the image's "
                "region of interest only, or mask the inputs"
            )
        return found


def in_trained_channel_order(dataset: Any, model: Trained) -> Any:
    """``dataset`` reading its image channels in the order ``model`` was trained on: its channel names (its
    ``dataset.json``'s, or its channel files' endings) matched with the run's by name and reordered (with a warning)
    when they come in another order; as it is when either side names none (a warning when their channel file
    endings differ, which nothing can match).

    Raises:
        DatasetError: both name their channels and the names differ, naming both.
    """
    from medimg.io.channels import channel_suffixes
    from medimg.planning.domain import describe_order, load_training_domain, order_of_channels, trained_channel_names

    domain = load_training_domain(model.run_dir_)
    given = getattr(dataset, "channel_names", None)
    order = order_of_channels(domain, given, str(dataset.root))
    trained = trained_channel_names(domain)
    if order is not None and given and trained:
        logger.warning(
            "%s has the channels %s; the model was trained on %s: the channels are put in the model's order (%s)",
            dataset.root,
            ", ".join(given),
            ", ".join(trained),
            describe_order(trained, given),
        )
        return replace(dataset, channel_order=tuple(order))
    if given and len(given) > 1 and not trained and domain is not None:
        logger.warning(
            "%s names its channels %s, but the model does not record its channels' names (trained before medimg "
            "recorded them, or on numbered channel files without a dataset.json): their order cannot be checked, so "
            "the channels are used as numbered; retrain to record them",
            dataset.root,
            ", ".join(given),
        )
    split = next((case for case in getattr(dataset, "cases", []) if getattr(case, "channels", ())), None)
    endings = channel_suffixes([split.image, *split.channels]) if split is not None else None
    recorded = domain.channel_suffixes if domain is not None else None
    if (not given or not trained) and endings and recorded and _bare(endings) != _bare(recorded):
        logger.warning(
            "%s's channel files end %s but the model's training cases' ended %s, and the channels are not named on "
            "both sides: their order cannot be checked. Name the channels in a dataset.json (channel_names) beside "
            "the data",
            dataset.root,
            ", ".join(endings),
            ", ".join(recorded),
        )
    return dataset


def _bare(endings: Sequence[str]) -> list[str]:
    """Channel file endings without their file suffix (``0000.nii.gz`` -> ``0000``), lower-case."""
    from medimg.io.formats import file_suffix

    return [e[: len(e) - len(file_suffix(e))].lower() if file_suffix(e) else e.lower() for e in endings]


def _trained_with_field_of_view(model: Trained) -> bool:
    """True when the run's training cases came with region-of-interest masks (``fingerprint.json``
    ``roi_mask_cases``; older runs: ``has_roi``, which ignored colours such as Herlev's also set)."""
    from medimg.errors import RunFolderError
    from medimg.run_folder import RunFolder

    try:
        fingerprint = RunFolder(model.run_dir_ or ".").read_json("fingerprint.json")
    except RunFolderError:
        return False
    cases = fingerprint.get("roi_mask_cases")
    return bool(cases) if cases is not None else bool(fingerprint.get("has_roi"))


def _training_scale(model: Trained) -> TrainingScale | None:
    """The run's training image sizes/spacing (from its fingerprint), for the pixel-scale check."""
    from medimg.tasks.segment.scale import load_training_scale

    plan: SegPlan = model.plan_
    return load_training_scale(
        model.run_dir_, resampled_by_spacing=plan.spatial_dims == 3 and bool(plan.target_spacing_mm)
    )


def _memory_format(plan: SegPlan) -> torch.memory_format:
    if not plan.channels_last:
        return torch.contiguous_format
    return torch.channels_last if plan.spatial_dims == 2 else torch.channels_last_3d


def _loss(plan: SegPlan) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The plan's Dice-family loss of a patch batch, computed in float32 outside autocast."""
    from medimg.tasks.segment.deep_supervision import deep_supervision_loss
    from medimg.tasks.segment.losses import make_loss

    criterion = make_loss(plan.loss)

    def loss(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        outputs = network(x)
        with torch.autocast(x.device.type, enabled=False):
            return deep_supervision_loss(criterion, outputs, y)

    return loss


def _postprocessing_chooser(
    val_prepared: Sequence[Any],
    val_truths: Sequence[np.ndarray],
    store: CaseStore,
) -> Callable[[nn.Module, SegPlan], tuple[SegPlan, dict[str, Any]]]:
    """After training: the post-processing that scores best on the validation cases (unless set by the user);
    each case's predicted labels are kept by ``store`` (memory-mapped beyond its budget)."""

    def choose(network: nn.Module, plan: SegPlan) -> tuple[SegPlan, dict[str, Any]]:
        from medimg.tasks.segment.cases import predict_prepared
        from medimg.tasks.segment.inference import probabilities_at, select_postprocessing
        from medimg.tasks.segment.labels import unused_classes
        from medimg.tasks.segment.masks import predicted_labels

        network = network.to(memory_format=torch.contiguous_format)
        absent = unused_classes(plan.label_encoding)
        by_case = {
            i: store.keep(predicted_labels(probabilities_at(p, val_prepared[i].original_shape).numpy(), absent))
            for i, p in predict_prepared(network, val_prepared, plan)
        }
        predictions = [by_case[i] for i in range(len(val_prepared))]
        chosen, scores = select_postprocessing(
            predictions, list(val_truths), plan.num_classes, min_object_fraction=plan.min_object_fraction
        )
        if plan.reasons.get("postprocessing") != "set by user":
            plan = plan.model_copy(
                update={
                    "postprocessing": chosen,
                    "reasons": {
                        **plan.reasons,
                        "postprocessing": "validation mean Dice: "
                        + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()),
                    },
                }
            )
        return plan, {"postprocessing_scores": scores}

    return choose


def _postprocessing_unchosen(network: nn.Module, plan: SegPlan) -> tuple[SegPlan, dict[str, Any]]:
    """After training without validation images (``--train-on-all``): the plan's post-processing stays, said so."""
    if plan.reasons.get("postprocessing") == "set by user":
        return plan, {}
    reason = f"no validation images to choose on (--train-on-all): {plan.postprocessing}"
    return plan.model_copy(update={"reasons": {**plan.reasons, "postprocessing": reason}}), {}


SEGMENT = SegmentTask()
