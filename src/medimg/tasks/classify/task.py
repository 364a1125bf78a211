"""Classification as a :class:`~medimg.tasks.base.Task`: images with one label each.

What is classification-specific lives in this package: reading and preprocessing to tensors (:mod:`.data`),
the loss and validation metrics (:mod:`.step`), logit adjustment (:mod:`.logit_adjustment`), batched inference
(:mod:`.inference`), prediction on files (:mod:`.predict`) and the network builder (:mod:`.network`); the plan
and its ``determine_*`` heuristics are :mod:`medimg.planning`. The loop, run and bundle are the engine's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel
from torch import nn

from medimg.config import FitOptions, resolve_plan
from medimg.data.case import Case
from medimg.data.dataset import Dataset
from medimg.data.labels import label_map
from medimg.engine.batches import BatchSource, TensorBatches, resident_device
from medimg.engine.distributed import Distributed
from medimg.engine.run import TrainingSetup
from medimg.errors import ConfigError, DatasetError, did_you_mean
from medimg.evaluation.training_curves import curve_rows, read_history
from medimg.io.orientation import check_recorded_orientation, read_as_trained
from medimg.planning.plan import Plan, members_wanted
from medimg.tasks.base import Planned, Trained, run_details

if TYPE_CHECKING:
    from medimg.planning.domain import InputReader

logger = logging.getLogger(__name__)

CURVE_KEYS = ("train_loss", "val_loss", "val_auc", "val_balanced_accuracy", "lr")


class ClassifyTask:
    """Image classification (2D and 3D) with the registry's CNNs."""

    name = "classify"
    plan_type = Plan
    trains_without_validation = False
    data_options: tuple[str, ...] = ("label_column",)

    def check_network(self, name: str) -> str:
        from medimg.networks import list_networks
        from medimg.registry import spelled_as

        choices = list_networks()
        found = spelled_as(name, choices)
        if found is None:
            raise ConfigError(f"unknown model {name!r}.{did_you_mean(name, choices)} Available: {', '.join(choices)}.")
        return found

    def load_dataset(self, path: str | Path, **options: Any) -> Dataset:
        dataset = Dataset.load(path, task="classify", **options)
        assert isinstance(dataset, Dataset)
        return dataset

    def split_cases(self, dataset: Any) -> list[Case]:
        return list(dataset.cases)

    def fingerprint(self, dataset: Any, train_cases: Sequence[Any], options: FitOptions) -> tuple[BaseModel, Any]:
        from medimg.tasks.classify.data import fingerprint_training_images

        return fingerprint_training_images(
            dataset, train_cases, strict=options.strict, progress=options.progress, seed=options.seed
        )

    def propose_plan(self, fingerprint: Any, *, bf16_supported: bool) -> Plan:
        from medimg.planning.planner import make_plan

        return make_plan(fingerprint, bf16_supported=bf16_supported)

    def resolve_plan(self, planned: Any, *layers: dict[str, Any] | None) -> Plan:
        """The planned plan under the override layers; another network or input size than the planner's, with the
        width left to it, gets the width the planner gives that network at that size.

        Raises:
            ConfigError: an override's ``num_classes`` other than the data's (timm's habit; it trained to the end
                and failed writing the report, or failed in the loss); a ``binary_threshold`` that cannot apply.
        """
        given = [layer["num_classes"] for layer in layers if layer and layer.get("num_classes") is not None]
        if given and given[-1] != planned.num_classes:  # before the planned class weights are checked against it
            raise ConfigError(
                f"num_classes={given[-1]}, but the data has {planned.num_classes} classes: leave num_classes "
                "out, medimg takes it from the data"
            )
        plan: Plan = resolve_plan(planned, *layers)
        chosen = {key for layer in layers for key in (layer or {})}
        if "width" not in chosen and (plan.network, plan.input_size) != (planned.network, planned.input_size):
            from medimg.planning.network_width import determine_width

            width, why = determine_width(plan.network, plan.spatial_dims, plan.input_size)
            plan = plan.model_copy(
                update={"width": width, "reasons": {**plan.reasons, "width": f"{plan.network} at {why}"}}
            )
        from medimg.planning.planner import fit_to_weights

        plan = fit_to_weights(plan, chosen)  # the width (and network) the weights file was saved at
        if plan.ensemble_networks:
            checked = [self.check_network(name) for name in plan.ensemble_networks]
            plan = plan.model_copy(update={"ensemble_networks": checked})
            most = members_wanted(plan)
            if most < len(checked):
                logger.warning(
                    "ensemble_networks lists %d networks, but at most %d will train (%s): set ensemble=%d to train "
                    "each",
                    len(checked),
                    most,
                    ", ".join(plan.member(k).network for k in range(most)),
                    len(checked),
                )
        from medimg.tasks.classify.inference import tta_flip_axes
        from medimg.tasks.classify.operating_points import check_binary_threshold

        check_binary_threshold(plan)  # before training, not after it
        if plan.tta and not tta_flip_axes(plan):
            logger.warning(
                "tta=true has nothing to average here: test-time augmentation flips the axes training flips "
                "(augmentation.flip_axes), and this plan flips none (%s). Set augmentation.flip_axes too, if the "
                "images may be mirrored (not chest X-rays: the heart is on one side)",
                plan.reasons.get("augmentation", "the planner's choice"),
            )
        return plan

    def setup(
        self, dataset: Any, planned: Planned, val_cases: Sequence[Any], options: FitOptions, distributed: Distributed
    ) -> TrainingSetup:
        from medimg.tasks.classify.data import prepare_split, prepare_training
        from medimg.tasks.classify.inference import memory_format
        from medimg.tasks.classify.logit_adjustment import adjust_for_class_weights, logit_shifts
        from medimg.tasks.classify.operating_points import columns_validation_cannot_judge, fold_operating_points
        from medimg.tasks.classify.step import make_hooks
        from medimg.transforms.augment import BatchAugment

        plan = planned.plan
        assert isinstance(plan, Plan)
        check_recorded_orientation(plan.canonical_orientation, plan.spatial_dims, dataset)
        train_split = prepare_training(dataset, planned.loaded, plan, strict=options.strict, progress=options.progress)
        train_ids = {c.case_id for c in planned.loaded.cases}
        planned.loaded = None  # the raw images are not needed any more
        val_split = prepare_split(dataset, val_cases, plan, strict=options.strict, progress=options.progress)
        # on a GPU with room, the split is kept and augmented there (an unlabelled pool's batches stay on the host)
        data_device = (
            resident_device([train_split.x, train_split.y], distributed.device)
            if options.unlabelled is None
            else torch.device("cpu")
        )
        labelled = TensorBatches(
            train_split.x,
            train_split.y,
            plan.batch_size,
            augment=BatchAugment(plan.augmentation, plan.spatial_dims),
            memory_format=memory_format(plan),
            distributed=distributed,
            device=data_device,
        )
        batches: BatchSource = labelled
        teacher = None
        if options.teacher is not None:
            from medimg.tasks.classify.distillation import load_teacher

            assert planned.run_dir is not None
            split = json.loads((planned.run_dir / "splits.json").read_text())["assignment"]
            teacher = load_teacher(options.teacher, plan, list(dataset.class_names), split, distributed.device)
        hooks = make_hooks(plan, val_split, teacher, seed=options.seed)
        summary: dict[str, Any] = {
            "logit_adjustment": logit_shifts(plan),
            "train_images": len(train_split),
            "val_images": len(val_split),
            "train_data_device": str(data_device),
            **({"teacher": str(options.teacher)} if options.teacher is not None else {}),
        }
        skipped = [*train_split.skipped, *val_split.skipped]
        operating_points: list[dict[str, float]] = []  # per trained network: the thresholds chosen on validation
        if plan.multi_label:
            summary["finding_thresholds"] = operating_points
        elif plan.binary_threshold != "argmax":
            summary["binary_thresholds"] = operating_points
        thresholded = list(dataset.class_names) if plan.multi_label else list(dataset.class_names)[1:]
        unjudged = [thresholded[j] for j in columns_validation_cannot_judge(plan, val_split)]
        if unjudged:
            logger.warning(
                "the validation split has no positive (or no negative) image of %s: the operating point of each stays "
                "0.5, not chosen, so a rare one may never be called; give the validation split images with it "
                "(--val-fraction, or more data)",
                ", ".join(repr(name) for name in unjudged),
            )

        def finish(network: nn.Module) -> None:
            adjust_for_class_weights(network, plan)
            thresholds = fold_operating_points(network, plan, val_split)
            if thresholds is not None:
                operating_points.append(dict(zip(thresholded, thresholds, strict=True)))

        after_training = None
        if options.unlabelled is not None:  # semi-supervised: the pool joins every batch, the loss uses it
            from medimg.tasks.classify.semi_supervised import setup_semi_supervised

            semi = setup_semi_supervised(dataset, train_ids, plan, labelled, options, distributed, teacher=teacher)
            batches, hooks, after_training = semi.batches, semi.hooks(hooks.validate), semi.after_training()
            summary["unlabelled_images"] = semi.summary["unlabelled_images"]
            skipped += semi.skipped
        return TrainingSetup(
            batches=batches,
            hooks=hooks,
            build=self.build_network,
            class_names=list(dataset.class_names),
            input_spec={
                "spatial_dims": plan.spatial_dims,
                "channels": plan.in_channels,
                "size": plan.input_size,
                "window": dataset.window,
            },
            summary=summary,
            skipped=skipped,
            finish=finish,
            after_training=after_training,
        )

    def build_network(self, plan: Any, *, initial_weights: bool = True) -> nn.Module:
        from medimg.networks import create_network

        return create_network(
            plan.network,
            in_channels=plan.in_channels,
            num_classes=plan.num_classes,
            spatial_dims=plan.spatial_dims,
            input_size=plan.input_size,
            width=plan.width,
            dropout=plan.dropout,
            weights_path=plan.weights_path if initial_weights else None,
        )

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
        from medimg.data.loading import read_case_chunks
        from medimg.evaluation.multilabel_report import build_multilabel_report, write_multilabel_report
        from medimg.evaluation.report import build_classification_report, write_report
        from medimg.planning.domain import LoadedDomainCheck
        from medimg.tasks.classify.data import join_splits, prepare_loaded
        from medimg.tasks.classify.inference import predict_proba

        network, plan, class_names = model.network_, model.plan_, model.class_names_ or []
        assert network is not None and plan is not None
        dataset = read_as_trained(dataset, plan.canonical_orientation)
        remap = label_map(dataset.class_names, class_names, cases)
        if plan.multi_label and not dataset.multi_label:
            raise DatasetError(
                f"{dataset.root} gives one class per image, but the model is multi-label: evaluate it on data that "
                "lists each image's findings (a CSV with findings joined by '|', one-hot columns, ChestMNIST)"
            )
        if dataset.multi_label and not plan.multi_label:
            raise DatasetError(
                f"{dataset.root} lists several findings per image, but the model gives one class per image: evaluate "
                "it on single-label data"
            )
        check = LoadedDomainCheck(model.run_dir_, strict=strict)
        parts = []
        for chunk in read_case_chunks(dataset, cases, spatial_dims=plan.spatial_dims, strict=strict):
            check.add(chunk.arrays, chunk.metas, [str(c.path or c.case_id) for c in chunk.cases])
            parts.append(prepare_loaded(chunk, plan))  # a chunk at a time: the test split is never held whole
        domain = check.finish()
        prepared = join_splits(parts, plan)
        by_id = {c.case_id: c for c in cases}
        probabilities = predict_proba(network, prepared.x, plan)
        history = []
        if model.run_dir_ is not None:
            history = curve_rows(read_history(model.run_dir_), CURVE_KEYS)
        options = {
            "split": split,
            "model_name": " + ".join(
                sorted({f"{m.network} (width {m.width})" for m in map(plan.member, range(plan.ensemble))})
            ),
            "dataset_name": dataset.name,
            "case_ids": prepared.case_ids,
            "patient_ids": [by_id[i].patient_id for i in prepared.case_ids],  # intervals count patients
            "extra": {
                **run_details(model),
                "skipped_files": [list(s) for s in prepared.skipped],
                **({"domain": domain} if domain is not None else {}),
            },
            "n_resamples": n_resamples,
        }
        if plan.multi_label:
            findings = _multilabel_targets(cases, prepared.case_ids, remap, class_names)
            multi = build_multilabel_report(findings, probabilities, class_names, **options)
            write_multilabel_report(multi, out_dir, findings=findings, probabilities=probabilities, history=history)
            return multi
        y = remap[prepared.y.numpy()]
        report = build_classification_report(y, probabilities, class_names, **options)
        write_report(report, out_dir, y_true=y, probabilities=probabilities, history=history or None)
        return report

    def predict(
        self,
        model: Trained,
        files: Sequence[Path],
        *,
        explain: str | None,
        out_dir: Path | None,
        reader: InputReader | None = None,
        explain_class: int | None = None,
    ) -> tuple[list[Any], list[tuple[str, str]]]:
        from medimg.planning.domain import InputReader
        from medimg.tasks.classify.predict import predict_files

        assert model.network_ is not None
        reader = reader or InputReader.for_run(model)
        return predict_files(
            model.network_,
            model.plan_,
            model.class_names_ or [],
            files,
            explain=explain,
            explain_class=explain_class,
            reader=reader,
        )


def _multilabel_targets(cases: Sequence[Case], case_ids: Sequence[str], remap: Any, names: Sequence[str]) -> Any:
    """The multi-hot findings ``(N, K)`` of the images read (``case_ids``), mapped to the model's findings ``names``."""
    from medimg.data.labels import findings_matrix

    by_id = {c.case_id: c for c in cases}
    return findings_matrix([by_id[i] for i in case_ids], len(names), remap, names)


CLASSIFY = ClassifyTask()
