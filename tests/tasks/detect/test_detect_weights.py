"""``--weights`` for a detector: a run's weights of another size are a clear error naming that run's sizes (a torch
``size mismatch`` traceback before); weights under a head for another number of classes load all but the head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medimg.errors import ConfigError
from medimg.tasks.detect.networks import build_detector
from medimg.tasks.detect.plan import DetectPlan
from medimg.tasks.detect.task import DetectTask

SMALL = {"backbone_widths": [4, 8, 16, 32], "backbone_depths": [1, 1, 1, 1], "fpn_channels": 8, "head_convs": 1}
LARGE = {"backbone_widths": [8, 16, 32, 64], "backbone_depths": [1, 1, 1, 1], "fpn_channels": 16, "head_convs": 1}


def _plan(sizes: dict, classes: list[str], weights: Path | None = None) -> DetectPlan:
    return DetectPlan(
        num_classes=len(classes),
        class_names=classes,
        input_size=[64, 64],
        weights_path=str(weights) if weights else None,
        **sizes,
    )


def _run(tmp_path: Path, sizes: dict, classes: list[str]) -> Path:
    """A run folder's ``model.pt`` and ``plan.json`` (as ``medimg fit`` writes them) for ``sizes``."""
    torch.manual_seed(0)
    run = tmp_path / "run"
    run.mkdir()
    plan = _plan(sizes, classes)
    torch.save({"model": build_detector(plan).state_dict()}, run / "model.pt")
    (run / "plan.json").write_text(json.dumps(plan.model_dump()))
    return run / "model.pt"


def test_weights_of_another_size_are_a_clear_error_naming_the_runs_sizes(tmp_path: Path) -> None:
    weights = _run(tmp_path, SMALL, ["a", "b"])
    with pytest.raises(ConfigError, match=r"model\.pt.*other sizes.*--set backbone_widths=\[4,8,16,32\]"):
        DetectTask().build_network(_plan(LARGE, ["a", "b"], weights))


def test_weights_for_another_number_of_classes_load_all_but_the_class_head(tmp_path: Path) -> None:
    weights = _run(tmp_path, SMALL, ["a", "b"])
    network = DetectTask().build_network(_plan(SMALL, ["a", "b", "c"], weights))
    saved = torch.load(weights, weights_only=True)["model"]
    own = network.state_dict()
    differing = [k for k in own if not torch.equal(own[k], saved[k])]
    assert differing and all("cls_logits" in k for k in differing)
