"""Generation as a :class:`~medimg.tasks.base.Task`: class-conditional image synthesis from classification data
(class folders, CSV manifests, MedMNIST).

What is generation-specific lives in this package: the plan (:mod:`.plan`), the networks (:mod:`.gan`,
:mod:`.diffusion`, :mod:`.networks`), the GAN's own optimisation step (:mod:`.gan_step`), tensors in and files
out (:mod:`.data`), sampling (:mod:`.sampling`), the feature space of the metrics (:mod:`.features`), the metrics
(:mod:`.metrics`), validation (:mod:`.validation`), evaluation and its report (:mod:`.evaluate`,
:mod:`.report`) and writing synthetic sets (:mod:`.synthesis`). The loop, budget, checkpoints, resume, TensorBoard,
run and bundle are the engine's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from torch import nn

from medimg.config import FitOptions, resolve_plan
from medimg.data.case import Case
from medimg.engine.batches import TensorBatches
from medimg.engine.distributed import Distributed
from medimg.engine.run import TrainingSetup
from medimg.errors import ConfigError, DatasetError
from medimg.tasks.base import Planned, Trained, run_details
from medimg.tasks.generate.plan import GeneratePlan

if TYPE_CHECKING:
    from medimg.planning.domain import InputReader

logger = logging.getLogger(__name__)


class GenerateTask:
    """Class-conditional image generation (2D and 3D): a GAN or a diffusion model, trained from scratch."""

    name = "generate"
    plan_type = GeneratePlan
    trains_without_validation = False
    data_options: tuple[str, ...] = ()
    #: the task of the datasets it reads (classification data: images with a class each)
    data_task = "classify"

    def check_network(self, name: str) -> str:
        from medimg.tasks.generate.networks import check_network_name

        return check_network_name(name)

    def load_dataset(self, path: str | Path, **options: Any) -> Any:
        from medimg.errors import DatasetError
        from medimg.tasks.classify.task import CLASSIFY

        try:
            dataset = CLASSIFY.load_dataset(path, **options)
        except DatasetError as error:
            if "single class" not in str(error):
                raise
            raise DatasetError(
                f"{path} has a single class: a generator is conditioned on the classes and measured in the feature "
                "space of a classifier of them, so it needs two or more; train it on the rare class together with "
                "the others (e.g. normal images) and draw only the rare one with `medimg generate RUN --class NAME`"
            ) from error
        if dataset.multi_label:
            raise DatasetError(
                f"{dataset.root} lists several findings per image: the generative models are conditioned on one class "
                "per image; give them single-label data (e.g. one finding against the rest)"
            )
        return dataset

    def split_cases(self, dataset: Any) -> list[Case]:
        return list(dataset.cases)

    def fingerprint(self, dataset: Any, train_cases: Sequence[Any], options: FitOptions) -> tuple[BaseModel, Any]:
        from medimg.tasks.classify.task import CLASSIFY

        return CLASSIFY.fingerprint(dataset, train_cases, options)

    def propose_plan(self, fingerprint: Any, *, bf16_supported: bool) -> GeneratePlan:
        from medimg.tasks.generate.plan import make_generate_plan

        return make_generate_plan(fingerprint)

    def resolve_plan(self, planned: Any, *layers: dict[str, Any] | None) -> GeneratePlan:
        from medimg.tasks.generate.plan import network_settings

        wanted = next((layer["network"] for layer in reversed(layers) if layer and "network" in layer), None)
        if wanted is not None and wanted != planned.network:  # the network's own optimisation settings first
            fields, why = network_settings(self.check_network(str(wanted)))
            planned = planned.model_copy(update={**fields, "reasons": {**planned.reasons, **why}})
        plan: GeneratePlan = resolve_plan(planned, *layers)
        check_plan(plan)
        return plan

    def setup(
        self, dataset: Any, planned: Planned, val_cases: Sequence[Any], options: FitOptions, distributed: Distributed
    ) -> TrainingSetup:
        from medimg.tasks.generate.data import prepare_real, read_real
        from medimg.tasks.generate.features import train_feature_space
        from medimg.tasks.generate.validation import make_hooks

        if options.synthetic:
            raise ConfigError(
                f"--synthetic {options.synthetic}: a generator learns from real images only (trained on generated "
                "ones it copies their flaws); drop --synthetic here and give the set to a classifier: "
                f"medimg fit DATA --synthetic {options.synthetic}"
            )
        if options.unlabelled is not None:
            raise ConfigError(
                f"--unlabelled {options.unlabelled}: the generators are conditioned on each image's class, so images "
                "without one are not learnt from; drop --unlabelled (semi-supervised training is for classifiers)"
            )
        plan = planned.plan
        assert isinstance(plan, GeneratePlan)
        loaded = planned.loaded
        train = prepare_real(dataset, loaded, plan, strict=options.strict, progress=options.progress)
        step = max(1.0, len(val_cases) / plan.max_val_images)
        monitored = [val_cases[int(i * step)] for i in range(min(len(val_cases), plan.max_val_images))]
        val = read_real(dataset, monitored, plan, strict=options.strict, progress=options.progress)
        if len(train) < 2 or not len(val):
            raise DatasetError(f"{dataset.root}: too few readable training or validation images to train a generator")
        run_dir = planned.run_dir or Path(".")  # the feature space is the run's, for validation and evaluation
        space = train_feature_space(dataset, loaded.cases, val_cases, plan, run_dir, options, distributed)
        if space is not None:
            space.network.to(distributed.device)
        planned.loaded = None
        batches = TensorBatches(train.x, train.y, plan.batch_size, distributed=distributed)
        return TrainingSetup(
            batches=batches,
            hooks=make_hooks(plan, val, space),
            build=self.build_network,
            class_names=list(plan.class_names),
            input_spec={
                "spatial_dims": plan.spatial_dims,
                "channels": plan.in_channels,
                "size": plan.output_size,
                "window": list(dataset.window) if isinstance(dataset.window, tuple) else dataset.window,
            },
            summary={
                "train_images": len(train),
                "val_images": len(val),
                "feature_space": str(space.source) if space is not None else None,
            },
            skipped=[*train.skipped, *val.skipped],
        )

    def build_network(self, plan: Any, *, initial_weights: bool = True) -> nn.Module:
        from medimg.tasks.generate.networks import build_generative

        return build_generative(plan)

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
        from medimg.tasks.generate.evaluate import evaluate_generator

        return evaluate_generator(
            model,
            dataset,
            cases,
            split=split,
            out_dir=out_dir,
            n_resamples=n_resamples,
            strict=strict,
            extra=run_details(model),
            load_dataset=self.load_dataset,
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
        raise ConfigError(
            "a generative model does not predict images: draw new ones with `medimg generate RUN --n N --out DIR` "
            "(Python: Model.generate)"
        )


def check_plan(plan: GeneratePlan) -> None:
    """Raise :class:`ConfigError` when the plan's parts disagree."""
    from medimg.tasks.generate.gan import START_SIDE

    sides = set(plan.input_size)
    if len(plan.input_size) != plan.spatial_dims or len(plan.output_size) != plan.spatial_dims:
        raise ConfigError(f"input_size and output_size need {plan.spatial_dims} values (one per spatial axis)")
    if len(sides) != 1 or next(iter(sides)) < 2 * START_SIDE or next(iter(sides)) & (next(iter(sides)) - 1):
        raise ConfigError(
            f"input_size must be one power of two >= {2 * START_SIDE} on every axis; got {plan.input_size}"
        )
    if plan.class_names and len(plan.class_names) != plan.num_classes:
        raise ConfigError(f"class_names has {len(plan.class_names)} names for {plan.num_classes} classes")
    if plan.ensemble != 1:
        raise ConfigError("generative models train one network (ensemble=1)")
    if plan.network == "gan" and plan.scheduler != "constant":
        raise ConfigError("the GAN trains at constant learning rates: scheduler must be 'constant'")
    if plan.network == "gan" and plan.guidance_scale != 1.0:  # was ignored: the GAN samples without guidance
        raise ConfigError(
            f"guidance_scale={plan.guidance_scale:g} is classifier-free guidance of the diffusion model; the GAN "
            "(the default network) has none: add --network diffusion, or drop --set guidance_scale"
        )
    if plan.network == "diffusion" and plan.guidance_scale != 1.0 and plan.class_dropout == 0:
        raise ConfigError(
            f"guidance_scale={plan.guidance_scale:g} needs the unconditional prediction that class_dropout trains "
            "(a share of labels replaced by 'no class'); with class_dropout=0 that prediction is never learnt: "
            "keep class_dropout above 0 (default 0.1), or guidance_scale=1"
        )
    if plan.network == "diffusion":
        if any(c % 32 for c in plan.unet_channels):
            raise ConfigError(f"unet_channels must be multiples of 32 (group norm); got {plan.unet_channels}")
        if plan.input_size[0] % 2 ** (len(plan.unet_channels) - 1):
            raise ConfigError(
                f"input_size {plan.input_size} is not divisible by the UNet's {len(plan.unet_channels)} levels"
            )
    if len(plan.adam_betas) != 2:
        raise ConfigError(f"adam_betas needs two values; got {plan.adam_betas}")
    if plan.clip_high <= plan.clip_low:
        raise ConfigError(f"clip_high ({plan.clip_high}) must be above clip_low ({plan.clip_low})")


GENERATE = GenerateTask()
