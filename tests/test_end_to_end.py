"""check -> fit -> evaluate -> predict through the real `medimg` command, on synthetic phantoms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medimg import Dataset, Model
from medimg.errors import ConfigError, NotFittedError, RunFolderError

pytestmark = pytest.mark.e2e


def medimg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def quick_fit_args(data: Path, run: Path, epochs: int) -> list[str]:
    """`medimg fit` arguments for a small, fast simple-cnn run."""
    return [
        "fit",
        str(data),
        "--run-dir",
        str(run),
        "--network",
        "simple-cnn",
        "--epochs",
        str(epochs),
        "--no-progress",
    ]


def test_cli_check_fit_evaluate_predict(phantom_dir: Path, tmp_path: Path) -> None:
    checked = medimg("check", str(phantom_dir), "--json", str(tmp_path / "check.json"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "status    OK" in checked.stdout
    assert json.loads((tmp_path / "check.json").read_text())["ok"] is True

    run = tmp_path / "run"
    fitted = medimg(*quick_fit_args(phantom_dir, run, epochs=3), cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    for name in (
        "config.json",
        "dataset.json",
        "fingerprint.json",
        "plan.json",
        "splits.json",
        "metadata.json",
        "model.pt",
        "metrics.jsonl",
        "report/report.html",
        "report/report.json",
        "report/roc.png",
        "report/confusion_matrix.png",
    ):
        assert (run / name).is_file(), name
    assert "roc_auc" in fitted.stdout and "report.html" in fitted.stdout
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3

    evaluated = medimg("evaluate", str(run), "--split", "val", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert (run / "evaluations" / "phantoms-val" / "report.html").is_file()

    predicted = medimg("predict", str(run), str(phantom_dir / "lesion"), "--format", "csv", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    rows = predicted.stdout.strip().splitlines()
    assert rows[0].startswith("source,label,confidence,p_normal,p_lesion") and len(rows) == 41

    again = medimg("fit", str(phantom_dir), "--run-dir", str(run), "--epochs", "1", cwd=tmp_path)
    assert again.returncode == 2 and "already holds a trained run" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "{empty}"], "no class sub-folders"),
        (["fit", "{data}", "--network", "resnet19"], "Did you mean 'resnet18'"),
        (["fit", "{data}", "--set", "epoch=3"], "unknown plan field 'epoch'"),
        (["check", "{missing}"], "does not exist"),
        (["evaluate", "{missing}"], "does not exist"),
    ],
)
def test_cli_bad_input_gives_clear_error(args: list[str], message: str, phantom_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    filled = [a.format(empty=tmp_path / "empty", data=phantom_dir, missing=tmp_path / "nope") for a in args]
    result = medimg(*filled, cwd=tmp_path)
    assert result.returncode == 2
    assert message.lower() in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_python_api_round_trip_with_corrupt_file(phantom_dir: Path, tmp_path: Path) -> None:
    (phantom_dir / "normal" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    ds = Dataset.load(phantom_dir)
    model = Model("simple-cnn").fit(ds, run_dir=tmp_path / "run", epochs=2, progress=False, tensorboard=False)
    skipped = model.metadata_["training"]["skipped_files"]
    assert len(skipped) <= 1 and all("corrupt.png" in s[0] for s in skipped)
    report = model.evaluate()
    assert report.metrics["n"] > 0
    loaded = Model.load(tmp_path / "run")
    preds = loaded.predict([phantom_dir / "lesion" / "phantom_0000.png"])
    assert preds[0].label in {"lesion", "normal"}
    assert abs(sum(preds[0].probabilities.values()) - 1) < 1e-5
    with pytest.raises(RunFolderError):
        Model.load(tmp_path / "nothing-here")
    with pytest.raises(NotFittedError):
        Model().predict(phantom_dir)
    with pytest.raises(ConfigError, match="unknown task"):
        Model(task="clasify")


def test_strict_mode_fails_on_corrupt_file(phantom_dir: Path, tmp_path: Path) -> None:
    (phantom_dir / "normal" / "corrupt.png").write_bytes(b"garbage")
    from medimg.errors import DatasetError

    with pytest.raises(DatasetError, match=r"corrupt\.png"):
        Model("simple-cnn").fit(
            phantom_dir, run_dir=tmp_path / "r", epochs=1, strict=True, progress=False, test_fraction=0.2
        )


def test_same_seed_gives_the_same_model(phantom_dir: Path, tmp_path: Path) -> None:
    import torch

    ds = Dataset.load(phantom_dir)
    weights = []
    for name in ("a", "b"):
        Model("simple-cnn").fit(ds, run_dir=tmp_path / name, epochs=2, seed=7, progress=False, tensorboard=False)
        weights.append(torch.load(tmp_path / name / "model.pt", weights_only=True)["model"])
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
