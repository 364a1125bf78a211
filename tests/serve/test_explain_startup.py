"""``medimg serve``'s start-up check of the explanation method: it refused every ensemble run (which ``fit`` makes
under a time budget), even for occlusion, which hooks no layer; predict explained the same run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from medimg.explain.cam import TargetLayerError
from medimg.networks.ensemble import EnsembleNet
from medimg.serve.service import load_served_model
from medimg.serve.settings import ServeSettings


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 2, 3, padding=1)
        self.head = nn.Linear(2, 2)
        self.target_layer_name = "features"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.features(x)).flatten(2).mean(2))


def served(network: nn.Module, method: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> object:
    from medimg.model import Model

    model = SimpleNamespace(task="classify", network_=network)
    monkeypatch.setattr(Model, "load", staticmethod(lambda _run: model))
    return load_served_model(ServeSettings(run_dir=tmp_path, explain_method=method))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "occlusion"])
def test_an_ensemble_run_is_served_with_explanations(
    method: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ensemble = EnsembleNet([TinyNet(), TinyNet()])
    assert served(ensemble, method, monkeypatch, tmp_path).network_ is ensemble  # type: ignore[attr-defined]


def test_occlusion_needs_no_target_layer_but_gradcam_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    served(plain, "occlusion", monkeypatch, tmp_path)
    with pytest.raises(TargetLayerError, match="no target layer"):
        served(plain, "gradcam", monkeypatch, tmp_path)
    with pytest.raises(TargetLayerError, match="no target layer"):  # one member without a layer: refused
        served(EnsembleNet([TinyNet(), plain]), "gradcam", monkeypatch, tmp_path)
