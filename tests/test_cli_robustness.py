"""The CLI under the conditions users meet: killed runs, odd folders, corrupt files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_end_to_end import medimg, quick_fit_args

pytestmark = pytest.mark.e2e


def _metrics_lines(run: Path) -> list[str]:
    path = run / "metrics.jsonl"
    return path.read_text().splitlines() if path.is_file() else []


def test_killed_run_resumes_and_finishes_all_epochs(phantom_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*quick_fit_args(phantom_dir, run, epochs=12), "--set", "early_stopping_patience=0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "medimg.cli.app", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and len(_metrics_lines(run)) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_metrics_lines(run))
    assert 2 <= done < 12, f"expected to kill the run mid-training, it had {done} epochs"
    assert not (run / "model.pt").exists()

    resumed = medimg(*args, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    epochs = [json.loads(line)["epoch"] for line in _metrics_lines(run)]
    assert epochs == list(range(1, 13))
    assert (run / "model.pt").is_file() and (run / "report" / "report.html").is_file()


def test_plan_keeps_a_plan_json_the_user_edited(phantom_dir: Path, tmp_path: Path) -> None:
    """plan -> edit plan.json -> fit --config is the workflow `plan` suggests; a later `plan` replaced the edits."""
    import os

    from typer.testing import CliRunner

    from medimg.cli.app import app

    out = tmp_path / "p"
    plan = ["plan", str(phantom_dir), "--out", str(out)]
    assert CliRunner().invoke(app, plan).exit_code == 0
    assert CliRunner().invoke(app, [*plan, "--set", "epochs=3"]).exit_code == 0  # plan again: replaced
    assert json.loads((out / "plan.json").read_text())["epochs"] == 3
    edited = json.loads((out / "plan.json").read_text()) | {"learning_rate": 5e-4}
    (out / "plan.json").write_text(json.dumps(edited))
    written = (out / "fingerprint.json").stat().st_mtime
    os.utime(out / "plan.json", (written + 60, written + 60))  # edited a minute later
    result = CliRunner().invoke(app, [*plan, "--set", "epochs=4"])
    assert result.exit_code != 0 and "was edited after `medimg plan` wrote it" in str(result.exception)
    assert json.loads((out / "plan.json").read_text()) == edited


def test_plan_fingerprints_the_images_fit_trains_on_not_the_masks_among_them(phantom_dir: Path, tmp_path: Path) -> None:
    """BUSI ships ``benign (1)_mask.png`` beside ``benign (1).png`` in its class folders: fit leaves the masks out
    (by their content), but `medimg plan` fingerprinted them as training images (30 cases for 14, and the channels
    of the masks), so its plan was not the plan fit makes."""
    import shutil

    from typer.testing import CliRunner

    from medimg.cli.app import app

    clean = tmp_path / "clean"
    shutil.copytree(phantom_dir, clean)
    for cls in ("normal", "lesion"):
        for image in sorted((phantom_dir / cls).glob("*.png"))[:10]:
            pixels = np.asarray(Image.open(image))
            mask = np.where(pixels > pixels.mean(), 255, 0).astype(np.uint8)
            Image.fromarray(mask).save(phantom_dir / cls / f"{image.stem}_mask.png")
    counts = []
    for data, out in ((clean, tmp_path / "p_clean"), (phantom_dir, tmp_path / "p_masks")):
        result = CliRunner().invoke(app, ["plan", str(data), "--out", str(out)])
        assert result.exit_code == 0, result.output
        counts.append(json.loads((out / "fingerprint.json").read_text())["num_train_cases"])
    assert counts[0] == counts[1] > 0


def test_plan_command_prints_reasons_and_honours_overrides(phantom_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    arguments = ["plan", str(phantom_dir), "--out", str(tmp_path / "p"), "--set", "epochs=3"]
    result = CliRunner().invoke(app, arguments)  # in this process: no imports to pay
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert plan["epochs"] == 3 and plan["reasons"]["epochs"] == "set by user"
    assert "# median shape" in result.stdout
    assert json.loads((tmp_path / "p" / "fingerprint.json").read_text())["num_train_cases"] > 0
    reused = medimg(
        "fit",
        str(phantom_dir),
        "--config",
        str(tmp_path / "p" / "plan.json"),
        "--run-dir",
        str(tmp_path / "run"),
        "--network",
        "simple-cnn",
        "--no-progress",
        cwd=tmp_path,
    )
    assert reused.returncode == 0, reused.stderr
    assert json.loads((tmp_path / "run" / "plan.json").read_text())["epochs"] == 3


def test_mixed_sizes_and_channels_train_with_a_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for label, cls in enumerate(("normal", "tumour")):
        (tmp_path / "d" / cls).mkdir(parents=True)
        for i in range(20):
            size = 24 + 8 * (i % 3)
            gray = (rng.integers(0, 60, (size, size)) + 120 * label).astype(np.uint8)
            image = Image.fromarray(gray) if i % 2 else Image.fromarray(np.stack([gray] * 3, -1))
            image.save(tmp_path / "d" / cls / f"{i}.png")
    checked = medimg("check", str(tmp_path / "d"), cwd=tmp_path)
    assert "different image sizes" in checked.stdout and "mixed channel counts" in checked.stdout
    fitted = medimg(*quick_fit_args(tmp_path / "d", tmp_path / "run", epochs=2), cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    assert "mixed channel counts" in fitted.stderr


def test_predict_skips_a_corrupt_file_and_says_so(phantom_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    run = tmp_path / "run"
    trained = CliRunner().invoke(app, quick_fit_args(phantom_dir, run, epochs=1))  # in this process: no imports
    assert trained.exit_code == 0, trained.output
    (phantom_dir / "lesion" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    (phantom_dir / "lesion" / "notes.png").write_text("this is text, not an image")
    result = medimg("predict", str(run), str(phantom_dir / "lesion"), cwd=tmp_path)
    assert result.returncode == 1
    predictions = json.loads(result.stdout)
    assert len(predictions) == 40
    assert "broken.png" in result.stderr and "notes.png" in result.stderr
    assert "Traceback" not in result.stderr


def test_fit_without_task_trains_what_the_data_holds(tmp_path: Path) -> None:
    """Image/mask pairs give a segmentation run without --task (it says so); class folders stay classification."""
    from tests.tasks.segment.synthetic import write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=12, size=32)
    fields = ("epochs=2", "iterations_per_epoch=3", "channels=[8,16,32]", "tta=false")
    tiny = [arg for field in fields for arg in ("--set", field)]
    result = medimg("fit", str(data), "--run-dir", str(tmp_path / "run"), "--no-progress", *tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "task: segment (image/mask pairs" in result.stderr + result.stdout
    assert json.loads((tmp_path / "run" / "metadata.json").read_text())["task"] == "segment"
    assert "dice_mean" in result.stdout
