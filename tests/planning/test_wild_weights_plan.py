"""A plan fitted to the weights a user gives (`fit --weights FILE`): full-width ImageNet ResNet-18 weights on small
images, another network's weights, a medimg run's own model.pt. The planner narrows ResNet-18 for small images;
with weights and no width given, the plan takes the width (and network) the file was saved at and says so. A width
the user set that the file does not fit is refused before any image is read, naming the width to give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from medimg.errors import ConfigError
from medimg.networks import create_network
from medimg.planning.fingerprint import Fingerprint, IntensityStats
from medimg.planning.plan import Plan
from medimg.planning.planner import make_plan
from medimg.tasks.classify.task import ClassifyTask


def _planned(side: int, channels: int = 1) -> Plan:
    fp = Fingerprint.model_validate(
        dict(
            dataset="d",
            num_train_cases=40,
            class_names=["a", "b"],
            class_counts={"a": 20, "b": 20},
            spatial_dims=2,
            channels=channels,
            channel_counts={str(channels): 40},
            median_shape=[side, side],
            min_shape=[side, side],
            max_shape=[side, side],
            modality="png",
            intensity=IntensityStats(mean=120, std=60, min=0, max=255, percentile_00_5=3, percentile_99_5=250),
            sampled_images=40,
        )
    )
    return make_plan(fp)


def _torchvision_resnet18(path: Path) -> Path:
    """What ``torch.save(torchvision.models.resnet18().state_dict(), path)`` holds: full width, a 7x7 stem, an
    ImageNet ``fc`` (built from medimg's own ResNet-18 at 224 px, which has torchvision's shapes)."""
    model = create_network("resnet18", in_channels=3, num_classes=2, input_size=224, width=1.0)
    state = {k.removeprefix("backbone."): v for k, v in model.state_dict().items() if not k.startswith("head.")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def imagenet_resnet18(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _torchvision_resnet18(tmp_path_factory.mktemp("weights") / "resnet18_imagenet.pt")


@pytest.mark.parametrize(("side", "planned_width"), [(28, 0.25), (64, 0.5)])
def test_full_width_imagenet_weights_set_the_plans_width(
    imagenet_resnet18: Path, side: int, planned_width: float
) -> None:
    """The planner's quarter (28 px) or half (64 px) width refused the file: "give --set width=1"."""
    planned = _planned(side)
    assert planned.width == planned_width
    plan = ClassifyTask().resolve_plan(planned, {"weights_path": str(imagenet_resnet18)})
    assert (plan.network, plan.width) == ("resnet18", 1.0)
    assert "resnet18_imagenet.pt was saved at" in plan.reasons["width"]
    assert f"planner's {planned_width:g}" in plan.reasons["width"]
    assert "starts from it" in plan.reasons["weights_path"]
    network = ClassifyTask().build_network(plan)  # loads: no refusal
    assert network.state_dict()["backbone.layer4.1.conv2.weight"].shape[0] == 512


def test_a_width_set_by_the_user_that_the_file_does_not_fit_is_refused_with_the_fix(imagenet_resnet18: Path) -> None:
    with pytest.raises(ConfigError, match=r"resnet18_imagenet\.pt was saved at width 1 .*width=0\.5.*--set width=1\b"):
        ClassifyTask().resolve_plan(_planned(28), {"weights_path": str(imagenet_resnet18), "width": 0.5})
    kept = ClassifyTask().resolve_plan(_planned(28), {"weights_path": str(imagenet_resnet18), "width": 1.0})
    assert kept.width == 1.0 and kept.reasons["width"] == "set by user"


def test_another_networks_weights_choose_the_network_unless_one_is_given(tmp_path: Path) -> None:
    dense = create_network("densenet121", in_channels=1, num_classes=2, input_size=64, width=0.5)
    torch.save(dense.state_dict(), tmp_path / "dense.pt")
    plan = ClassifyTask().resolve_plan(_planned(64), {"weights_path": str(tmp_path / "dense.pt")})
    assert (plan.network, plan.width) == ("densenet121", 0.5)
    assert "densenet121, the network weights file" in plan.reasons["network"]
    given = ClassifyTask().resolve_plan(
        _planned(64), {"weights_path": str(tmp_path / "dense.pt"), "network": "resnet18"}
    )
    assert given.network == "resnet18"  # the user's choice stands (building it says the file is densenet121's)


def test_a_medimg_runs_model_pt_takes_its_runs_width(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    model = create_network("resnet18", in_channels=1, num_classes=2, input_size=28, width=0.3)
    torch.save(model.state_dict(), run / "model.pt")
    (run / "plan.json").write_text(json.dumps({"network": "resnet18", "width": 0.3}))
    plan = ClassifyTask().resolve_plan(_planned(64), {"weights_path": str(run)})
    assert (plan.network, plan.width) == ("resnet18", 0.3)
    assert "its run's plan.json" in plan.reasons["width"]


def test_every_network_of_a_time_budget_ensemble_starts_from_the_weights(imagenet_resnet18: Path) -> None:
    plan = ClassifyTask().resolve_plan(
        _planned(28), {"weights_path": str(imagenet_resnet18), "time_budget_s": 60, "ensemble_budget_max": 3}
    )
    assert "each network of the ensemble (up to 3" in plan.reasons["weights_path"]
    assert all(plan.member(k).weights_path == str(imagenet_resnet18) for k in range(3))
    mixed = ClassifyTask().resolve_plan(
        _planned(28),
        {"weights_path": str(imagenet_resnet18), "ensemble": 2, "ensemble_networks": ["resnet18", "simple-cnn"]},
    )
    assert "simple-cnn members start at random" in mixed.reasons["weights_path"]


def test_no_weights_keeps_the_planners_width() -> None:
    plan = ClassifyTask().resolve_plan(_planned(28), {})
    assert plan.width == 0.25 and "weights_path" not in plan.reasons


def test_an_ensemble_runs_model_pt_takes_its_first_networks_width_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "ensemble_run"
    run.mkdir()
    members = [create_network("resnet18", in_channels=1, num_classes=2, input_size=28, width=0.25) for _ in range(2)]
    state = {f"members.{k}.{key}": v for k, m in enumerate(members) for key, v in m.state_dict().items()}
    torch.save(state, run / "model.pt")
    (run / "plan.json").write_text(json.dumps({"network": "resnet18", "width": 0.25, "ensemble": 2}))
    with caplog.at_level("INFO", logger="medimg.networks.weights"):
        plan = ClassifyTask().resolve_plan(_planned(64), {"weights_path": str(run / "model.pt")})
    assert plan.width == 0.25 and "width 0.25, the weights file's" in plan.reasons["network"]
    assert "members.0 of the 2 it holds" in plan.reasons["weights_path"]
    assert "an ensemble of" not in caplog.text  # probing the file logs nothing; building the network says it once


def test_2d_weights_for_volumes_are_not_probed_against_3d_networks(
    imagenet_resnet18: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fitting looked for a 3D network the 2D file fills (building full-width 3D ResNets, 9 s) and found none."""
    import medimg.networks.registry
    from medimg.networks.saved_at import saved_at

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network was built to probe 2D weights for volumes")

    monkeypatch.setattr(medimg.networks.registry, "create_network", no_build)

    found = saved_at(
        imagenet_resnet18, "simple-cnn", in_channels=1, num_classes=2, spatial_dims=3, input_size=[32, 32, 32]
    )
    assert found is None
