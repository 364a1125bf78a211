"""Golden tests: today's behaviour pinned before the restructuring (plans, the demo's metrics, the CLI's outputs).

* Plans of five real datasets (``../shared/data``) must equal tests/golden/*.plan.json field by field;
  regenerate them with ``python tests/golden/regenerate.py`` only when a plan change is intended.
* ``medimg demo`` must keep the README's metrics (ACC 0.948 / AUC 0.998, within bf16 tolerance); marked slow.
* The CLI's printed lines, run-folder files and prediction formats that users and scripts rely on.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.golden.cases import CASES, MACHINE_FIELDS, GoldenCase, diff_plans


def medimg_command() -> list[str]:
    """The installed ``medimg`` entry point next to this interpreter, else ``python -m medimg.cli.app``."""
    script = Path(sys.executable).with_name("medimg")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "medimg.cli.app"]


def start_cli(*args: str | Path) -> subprocess.Popen[str]:
    """Start ``medimg ARGS`` (each call pays the torch/MONAI import, ~10 s of CPU: independent calls overlap)."""
    return subprocess.Popen(
        [*medimg_command(), *(str(a) for a in args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return finish(start_cli(*args), timeout)


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"


# ---------------------------------------------------------------------------------------------- golden plans
@pytest.mark.realdata
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_matches_golden(case: GoldenCase) -> None:
    if not case.path.exists():
        pytest.skip(f"real data not available: {case.path} (tests that need ../shared/data skip without it)")
    from medimg.planning.planner import cpu_supports_bf16

    if not case.golden_file.is_file():
        pytest.fail(f"{case.golden_file} is missing: make it with python tests/golden/regenerate.py {case.name}")
    golden = json.loads(case.golden_file.read_text())
    same_cpu = cpu_supports_bf16() == golden["cpu_supports_bf16"]
    actual = case.compute()
    differences = diff_plans(golden["plan"], actual, skip=() if same_cpu else MACHINE_FIELDS)
    assert not differences, (
        f"{case.name}: the plan differs from {case.golden_file.name} in {len(differences)} field(s):\n  "
        + "\n  ".join(differences)
        + "\n(if intended: python tests/golden/regenerate.py "
        + case.name
        + " and review the diff)"
    )


def test_diff_plans_reports_each_field() -> None:
    """The comparison itself: nested fields, missing fields, float round trips and skipped machine fields."""
    golden = {"epochs": 30, "lr": 0.1, "augmentation": {"flip_axes": [0]}, "amp": "bf16", "reasons": {"amp": "x"}}
    now = {"epochs": 31, "lr": 0.1 + 1e-15, "augmentation": {"flip_axes": [0, 1]}, "amp": "none", "extra": 1}
    assert diff_plans(golden, now, skip=MACHINE_FIELDS) == [
        "augmentation.flip_axes: golden [0] != now [0, 1]",
        "epochs: golden 30 != now 31",
        "extra: golden <missing> != now 1",
    ]
    assert 'amp: golden "bf16" != now "none"' in diff_plans(golden, now)
    assert diff_plans(golden, golden) == []


# ---------------------------------------------------------------------------------------------- demo metrics
@pytest.mark.slow
def test_demo_metrics(tmp_path: Path) -> None:
    """README: ``medimg demo`` reaches test ACC 0.948 / AUC 0.998 (seed 0; bf16 numerics vary slightly)."""
    result = run_cli("demo", "--out", tmp_path, "--no-progress", timeout=1200)  # 325 s on 2 busy fp32 cores
    assert result.returncode == 0, _explain(result)
    metrics = json.loads((tmp_path / "run" / "report" / "report.json").read_text())["metrics"]
    assert metrics["accuracy"] == pytest.approx(0.948, abs=0.03), metrics
    assert metrics["roc_auc"] >= 0.99, metrics


# ---------------------------------------------------------------------------------------------- CLI outputs
RUN_FILES = (
    "config.json",
    "dataset.json",
    "splits.json",
    "fingerprint.json",
    "plan.json",
    "metadata.json",
    "model.pt",
    "metrics.jsonl",
    "checkpoints/last.pt",
    "checkpoints/best.pt",
    "report/report.json",
    "report/report.html",
)


def test_cli_output_shape(tmp_path: Path) -> None:
    """check -> fit -> predict (json, csv) -> a bad path: the lines, files and formats scripts parse."""
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(tmp_path / "phantoms", n_per_class=40, size=32, seed=0)
    run = tmp_path / "run"

    # check and the bad path run while fit trains; the two predictions run side by side.
    checking = start_cli("check", data)
    failing = start_cli("check", tmp_path / "no-such-folder")
    fitted = run_cli("fit", data, "--epochs", "1", "--run-dir", run, "--no-progress")
    checked, bad = finish(checking), finish(failing)

    assert checked.returncode == 0, _explain(checked)
    assert "normal" in checked.stdout and "lesion" in checked.stdout, checked.stdout

    assert bad.returncode == 2, _explain(bad)
    assert "Traceback" not in bad.stderr, bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), bad.stderr
    assert "no-such-folder" in errors[0]

    assert fitted.returncode == 0, _explain(fitted)
    lines = fitted.stdout.splitlines()
    splits = json.loads((run / "splits.json").read_text())
    n_test = sum(1 for s in splits["assignment"].values() if s == "test")
    assert f"test set: {n_test} images (no patient ids: intervals treat images as independent)" in lines, fitted.stdout
    assert any(re.fullmatch(r"  accuracy +\d\.\d{4}.*", line) for line in lines), fitted.stdout
    assert f"run folder: {run}" in lines, fitted.stdout
    assert f"report:     {run / 'report' / 'report.html'}" in lines, fitted.stdout
    missing = [name for name in RUN_FILES if not (run / name).is_file()]
    assert not missing, f"run folder lacks {missing}"
    metadata = json.loads((run / "metadata.json").read_text())
    assert {"task", "class_names", "input", "network", "training"} <= set(metadata), sorted(metadata)
    assert metadata["task"] == "classify"
    class_names = metadata["class_names"]
    assert sorted(class_names) == ["lesion", "normal"]

    image = data / "lesion" / "phantom_0000.png"
    as_json = start_cli("predict", run, image)
    as_csv = finish(start_cli("predict", run, image, "--format", "csv"))
    predicted = finish(as_json)
    assert predicted.returncode == 0, _explain(predicted)
    rows = json.loads(predicted.stdout)
    assert isinstance(rows, list) and len(rows) == 1
    assert set(rows[0]) == {"source", "label", "label_index", "confidence", "probabilities", "domain"}, rows[0]
    assert rows[0]["domain"] == {"in_domain": True, "reasons": []}  # a training-like image is not flagged
    assert rows[0]["label"] in class_names and set(rows[0]["probabilities"]) == set(class_names)

    assert as_csv.returncode == 0, _explain(as_csv)
    table = list(csv.reader(io.StringIO(as_csv.stdout)))
    header = ["source", "label", "confidence", *[f"p_{n}" for n in class_names], "in_domain", "domain_reasons"]
    assert table[0] == header, table[0]
    assert len(table) == 2 and table[1][-2:] == ["yes", ""]  # the JSON's domain, as columns
