"""The feature space of a generate run is one classifier's penultimate layer, also under a time budget (which
used to grow it into an ensemble of three whose features were concatenated: 384 dimensions instead of 128)."""

from __future__ import annotations

from pathlib import Path

from medimg.config import FitOptions
from medimg.data.dataset import Dataset
from medimg.data.synthetic import make_phantom_dataset
from medimg.tasks.generate.features import train_feature_space
from medimg.tasks.generate.plan import GeneratePlan


def test_the_feature_classifier_is_one_network_under_a_time_budget(tmp_path: Path) -> None:
    import torch

    data = make_phantom_dataset(tmp_path / "data", n_per_class=8, size=16, seed=0)
    dataset = Dataset.load(data, task="classify")
    cases = list(dataset.cases)
    plan = GeneratePlan(
        class_names=list(dataset.class_names), input_size=[16, 16], output_size=[16, 16], time_budget_s=600.0
    )
    plan = plan.model_copy(update={"features_epochs": 1})
    options = FitOptions(progress=False, tensorboard=False, num_threads=1)
    space = train_feature_space(dataset, cases[::2], cases[1::2], plan, tmp_path / "run", options, None)
    assert space is not None
    assert space.classifier_plan.ensemble == 1
    features = space.embed(torch.zeros(3, 1, 16, 16))
    assert features.shape == (3, 128)  # simple-cnn's penultimate layer, not three of them side by side
