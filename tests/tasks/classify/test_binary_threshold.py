"""A two-class classifier's operating point chosen on validation (``binary_threshold``): folded into the bias so
the argmax decides at the chosen threshold, the ranking kept, recorded in the run, refused for three classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from medimg.errors import ConfigError
from medimg.planning.plan import Plan
from medimg.tasks.classify.data import PreparedSplit
from medimg.tasks.classify.inference import predict_proba
from medimg.tasks.classify.operating_points import fold_operating_points


class _Linear(nn.Module):
    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.head = nn.Linear(4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1)[:, :4])


def _plan(rule: str, classes: int = 2) -> Plan:
    return Plan(
        num_classes=classes, binary_threshold=rule, in_channels=1, input_size=[2, 2], amp="none", channels_last=False
    )


def _skewed_split(n: int = 400) -> PreparedSplit:
    """Class 1 is 80% of the images and only loosely tied to the first pixel: argmax calls too many of them 1."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 2, 2, generator=generator)
    y = (torch.rand(n, generator=generator) < torch.sigmoid(2 * x.flatten(1)[:, 0] + 1.5)).long()
    return PreparedSplit(x=x, y=y, case_ids=[str(i) for i in range(n)])


def _fitted(split: PreparedSplit) -> _Linear:
    torch.manual_seed(0)
    network = _Linear()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        nn.functional.cross_entropy(network(split.x), split.y).backward()
        optimizer.step()
    return network


@pytest.mark.parametrize("rule", ["youden", "f1"])
def test_the_argmax_decides_at_the_threshold_chosen_on_validation(rule: str) -> None:
    from sklearn.metrics import balanced_accuracy_score, f1_score

    split = _skewed_split()
    network = _fitted(split)
    plan = _plan(rule)
    raw = predict_proba(network, split.x, plan)
    thresholds = fold_operating_points(network, plan, split)
    assert thresholds is not None and len(thresholds) == 1
    (t,) = thresholds
    assert 0 < t < 1 and abs(t - 0.5) > 0.02  # the skewed prior moves it away from the argmax's 0.5
    folded = predict_proba(network, split.x, plan)
    assert ((folded.argmax(1) == 1) == (raw[:, 1] >= t)).all()
    assert np.argsort(folded[:, 1]).tolist() == np.argsort(raw[:, 1]).tolist()  # the ranking (AUC) is kept
    y = split.y.numpy()
    score = balanced_accuracy_score if rule == "youden" else f1_score
    assert score(y, folded.argmax(1)) >= score(y, raw.argmax(1))  # on the split it was chosen on: never worse


def test_argmax_leaves_the_network_alone_and_three_classes_are_refused() -> None:
    split = _skewed_split()
    network = _fitted(split)
    before = network.head.bias.detach().clone()
    assert fold_operating_points(network, _plan("argmax"), split) is None
    assert torch.equal(network.head.bias, before)
    with pytest.raises(ConfigError, match="leave binary_threshold out"):
        fold_operating_points(_Linear(3), _plan("youden", classes=3), split)


def test_a_threshold_that_cannot_apply_is_refused_before_training(tmp_path: Path) -> None:
    from medimg import Model
    from tests.tasks.classify.test_multilabel import write_quadrant_npz

    data = write_quadrant_npz(tmp_path / "quadrants.npz", n=(30, 10, 10))  # multi-label
    with pytest.raises(ConfigError, match="finding_threshold") as caught:
        Model("simple-cnn", binary_threshold="youden").fit(data, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())
    assert "leave binary_threshold out" in str(caught.value)


def test_a_run_records_and_applies_its_operating_point(tmp_path: Path) -> None:
    from medimg import Model
    from tests.tasks.classify.test_multilabel import write_quadrant_npz

    with np.load(write_quadrant_npz(tmp_path / "quadrants.npz")) as arrays:  # finding 0 alone, as two classes
        data = {k: (v[:, 0] if k.endswith("labels") else v) for k, v in arrays.items()}
    np.savez_compressed(tmp_path / "binary.npz", **data)
    torch.set_num_threads(1)
    model = Model("simple-cnn", binary_threshold="youden").fit(
        tmp_path / "binary.npz", run_dir=tmp_path / "run", epochs=3, seed=0, progress=False, tensorboard=False
    )
    metadata = json.loads((model.run_dir_ / "metadata.json").read_text())
    (chosen,) = metadata["training"]["binary_thresholds"]
    assert list(chosen) == ["class_1"] and 0 < chosen["class_1"] < 1
    report = json.loads((model.run_dir_ / "report" / "report.json").read_text())
    assert report["metrics"]["roc_auc"] > 0.9
    page = (model.run_dir_ / "report" / "report.html").read_text()
    assert "operating point chosen on the validation split" in page and f"{chosen['class_1']:.3f}" in page
    assert "the ECE and the reliability diagram measure these shifted probabilities" in page


def test_an_argmax_report_says_how_it_decides() -> None:
    from medimg.evaluation.report import build_classification_report

    y = np.array([0, 1, 1, 0, 1, 1])
    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9], [0.7, 0.3]])
    extra = {"plan": {"binary_threshold": "argmax"}, "training": {}}
    report = build_classification_report(
        y, p, ["normal", "pneumonia"], split="test", model_name="m", dataset_name="d", extra=extra, n_resamples=10
    )
    page = report.to_html()
    assert "the more probable class" in page and "binary_threshold=youden" in page
    assert "at argmax" not in page  # sensitivity 0.75, specificity 0.5: no warning
    always_normal = np.tile([0.9, 0.1], (6, 1))
    missed = build_classification_report(
        y,
        always_normal,
        ["normal", "pneumonia"],
        split="test",
        model_name="m",
        dataset_name="d",
        extra=extra,
        n_resamples=10,
    )
    assert "Sensitivity is 0.000 at argmax</strong>: “pneumonia” is mostly missed" in missed.to_html()


def test_a_screening_point_keeps_its_specificity_on_validation_and_is_written_as_given() -> None:
    """binary_threshold=specificity:0.9 (sensitivity at a fixed specificity, what screening papers report) was
    refused: only argmax, youden and f1 existed."""
    split = _skewed_split()
    network = _fitted(split)
    plan = _plan("specificity:90%")
    assert plan.binary_threshold == "specificity:0.9"
    raw = predict_proba(network, split.x, plan)
    (t,) = fold_operating_points(network, plan, split) or [None]
    y = split.y.numpy() == 1
    called = raw[:, 1] >= t
    specificity = (~called & ~y).sum() / (~y).sum()
    assert specificity >= 0.9
    lower = np.sort(raw[:, 1][raw[:, 1] < t])[-1:]  # the next cut down would lose the specificity
    assert not len(lower) or (~(raw[:, 1] >= lower[0]) & ~y).sum() / (~y).sum() < 0.9
    with pytest.raises(ValueError, match="specificity:X"):
        _plan("specificty:0.9")


def test_a_finding_threshold_on_a_two_class_model_is_refused_naming_binary_threshold() -> None:
    """--set finding_threshold=specificity:0.9 on a two-class run was silently ignored (argmax decided)."""
    from medimg.tasks.classify.operating_points import check_binary_threshold

    plan = Plan(num_classes=2, in_channels=1, input_size=[2, 2], finding_threshold="specificity:0.9")
    with pytest.raises(ConfigError, match=r"binary_threshold=specificity:0\.9"):
        check_binary_threshold(plan)
