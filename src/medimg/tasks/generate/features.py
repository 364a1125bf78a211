"""The feature space generated images are measured in: the penultimate layer of a medimg classifier trained on
the real training split (no download, no ImageNet network).

By default the generate run trains one itself (``plan.features_network``, ``plan.features_epochs``) on its own
training and validation split into ``RUN/features``, a complete classification run (``medimg evaluate
RUN/features`` works on it); ``plan.features_run`` names an existing classification run to use instead.
Real and generated images reach the classifier the same way: from the generator's [-1, 1] range back to the
training intensities, resized to the classifier's input and normalised by its plan.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medimg.config import FitOptions
from medimg.errors import ConfigError
from medimg.tasks.generate.data import resize, to_intensity
from medimg.tasks.generate.plan import FEATURE_BUDGET_SHARE, GeneratePlan

logger = logging.getLogger(__name__)

FEATURES_FOLDER = "features"
"""The feature classifier's run folder inside a generate run."""


class FeatureSpace:
    """Embeds images in [-1, 1] (``(N, C, *input_size)``, the generator's range) as ``(N, D)`` float64 features.

    Attributes:
        network: the classifier (eval mode); ``forward_features`` gives its penultimate layer.
        classifier_plan: its plan (input size, channels, normalisation).
        source: the classifier's run folder.
    """

    def __init__(self, network: nn.Module, classifier_plan: Any, plan: GeneratePlan, source: Path) -> None:
        if not hasattr(network, "forward_features"):
            raise ConfigError(f"{source} is not a deep medimg classifier: its network has no penultimate layer")
        self.network = network.eval()
        self.classifier_plan = classifier_plan
        self.plan = plan
        self.source = source

    def embed(self, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Features of ``images`` ``(N, C, *input_size)`` in [-1, 1]."""
        from medimg.transforms.preprocess import normalise

        device = next(self.network.parameters()).device
        network: Any = self.network
        wanted = int(self.classifier_plan.in_channels)
        out: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                chunk = to_intensity(images[start : start + batch_size], self.plan)
                chunk = resize(chunk, self.classifier_plan.input_size)
                if chunk.shape[1] != wanted:
                    chunk = chunk.mean(1, keepdim=True).expand(-1, wanted, *chunk.shape[2:])
                x = normalise(chunk, self.classifier_plan).to(device)
                out.append(network.forward_features(x).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))


def load_feature_space(run_dir: str | Path, plan: GeneratePlan) -> FeatureSpace:
    """The feature space of a trained classification run.

    Raises:
        ConfigError: the run is not a torch classifier, or its classes differ from the plan's.
    """
    from medimg.bundle import load_bundle

    bundle = load_bundle(run_dir)
    if bundle.task != "classify":
        raise ConfigError(f"{run_dir} is a {bundle.task} run; the feature space needs a classification run")
    if plan.class_names and list(bundle.class_names_) != list(plan.class_names):
        raise ConfigError(
            f"{run_dir} classifies {bundle.class_names_}, but the generator's classes are {plan.class_names}: "
            "use a classifier trained on the same data (or leave features_run unset to train one)"
        )
    return FeatureSpace(bundle.network_, bundle.plan_, plan, Path(run_dir))


def feature_space_of_run(run_dir: Path, plan: GeneratePlan) -> FeatureSpace:
    """The feature space a trained generate run in ``run_dir`` measures with (``features_run`` or its own)."""
    return load_feature_space(Path(plan.features_run) if plan.features_run else run_dir / FEATURES_FOLDER, plan)


def train_feature_space(
    dataset: Any,
    train_cases: Sequence[Any],
    val_cases: Sequence[Any],
    plan: GeneratePlan,
    run_dir: Path,
    options: FitOptions,
    distributed: Any,
) -> FeatureSpace | None:
    """Train the feature classifier on ``train_cases`` (selected on ``val_cases``) into ``run_dir/features``, or
    load it when that folder already holds a finished run (``--resume``), or load ``plan.features_run``.
    ``None`` on the processes other than rank 0 of a distributed run (they neither validate nor evaluate)."""
    from medimg.data.splits import Splits
    from medimg.engine.run import fit_run
    from medimg.tasks.registry import get_task

    if plan.features_run:
        return load_feature_space(plan.features_run, plan)
    folder = run_dir / FEATURES_FOLDER
    if (folder / "metadata.json").is_file() and (folder / "model.pt").is_file():
        logger.info("feature classifier: reusing %s", folder)
        return load_feature_space(folder, plan)
    assignment = {c.case_id: "train" for c in train_cases} | {c.case_id: "val" for c in val_cases}
    splits = Splits(assignment=assignment, method="the generate run's train/val split", seed=options.seed)
    logger.info("feature classifier: %s, %d epochs, into %s", plan.features_network, plan.features_epochs, folder)
    local = options.model_copy(update={"resume": False, "folds": None, "tensorboard": False, "synthetic": None})
    # one network: a time budget would otherwise add ensemble members, whose features are concatenated (a space
    # of 3 x 128 dimensions, where the FDs of a few hundred images are mostly small-sample bias)
    overrides: dict[str, Any] = {
        "network": plan.features_network,
        "epochs": plan.features_epochs,
        "ensemble": 1,
        "ensemble_budget_max": 1,
    }
    if plan.time_budget_s is not None:
        overrides["time_budget_s"] = plan.time_budget_s * FEATURE_BUDGET_SHARE
    fit = fit_run(
        get_task("classify"), dataset, folder, local, plan_layers=(overrides,), splits=splits, distributed=distributed
    )
    if fit is None:  # another process of a distributed run: rank 0 validates and evaluates, it alone needs it
        return None
    return FeatureSpace(fit.network, fit.plan, plan, folder)
