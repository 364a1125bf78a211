"""The MedMNIST benchmark script runs end to end on tiny synthetic files and writes a well-formed table.

Timing itself belongs to the benchmark, not to tests: here only the structure and the honesty of the
numbers (they come from real runs: a learnable tiny set scores well above chance) are checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_npz

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "medmnist.py"


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    folder = tmp_path_factory.mktemp("medmnist")
    write_npz(folder / "tinymnist.npz", shape=(16, 16), n=(48, 16, 24))
    labels = np.eye(8, 3, dtype=np.uint8)  # multi-label, like ChestMNIST: reported as skipped
    np.savez(folder / "multimnist.npz", train_images=np.zeros((8, 16, 16), np.uint8), train_labels=labels)
    out = folder / "result.json"
    command = [
        sys.executable,
        str(SCRIPT),
        "--data",
        str(folder),
        "--seeds",
        "0",  # one seed: the summary over seeds is checked in test_summary_over_seeds
        "--epochs",
        "2",
        "--budget-s",
        "4",  # the tiny set is learnt within seconds; a longer budget only buys ensemble members
        "--speed-steps",
        "1",
        "--no-speed-compile",  # compiling takes minutes on 2 cores: tests/benchmarks/test_speed_compile.py (slow)
        "--scale-images",
        "100",
        "--out",
        str(out),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout, folder


def test_resume_keeps_finished_runs_and_other_configurations(
    benchmark_run: tuple[dict, str, Path], tmp_path: Path
) -> None:
    result, _, folder = benchmark_run
    out = tmp_path / "result.json"
    out.write_text(json.dumps(result))
    command = [sys.executable, str(SCRIPT), "--data", str(folder), "--only", "tinymnist", "--configs", "auto"]
    command += ["--seeds", "0", "--budget-s", "4", "--no-speed", "--resume", "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert " seed 0 ..." not in proc.stdout  # nothing retrained
    again = json.loads(out.read_text())
    configs = again["datasets"]["tinymnist"]["configurations"]
    assert configs["reference"]["runs"] == result["datasets"]["tinymnist"]["configurations"]["reference"]["runs"]
    assert configs["auto"]["runs"] == result["datasets"]["tinymnist"]["configurations"]["auto"]["runs"]
    assert "speed" in again and len(again["commands"]) == 2
    # --fresh retrains the selected runs and keeps the others
    fresh = [*command[: command.index("--seeds")], "--seeds", "0", "--budget-s", "4", "--no-speed", "--resume"]
    fresh.append("--fresh")
    proc = subprocess.run([*fresh, "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tinymnist.npz auto seed 0 ..." in proc.stdout and "reference seed" not in proc.stdout
    third = json.loads(out.read_text())["datasets"]["tinymnist"]["configurations"]
    assert [r["seed"] for r in third["auto"]["runs"]] == [0]
    assert third["reference"]["runs"] == configs["reference"]["runs"]


def test_every_file_and_configuration_is_run_over_the_seeds(benchmark_run: tuple[dict, str, Path]) -> None:
    result, _, _ = benchmark_run
    datasets = result["datasets"]
    assert set(datasets) == {"tinymnist", "multimnist"}
    assert "multi-label" in datasets["multimnist"]["skipped"]
    assert set(datasets["tinymnist"]["configurations"]) == {"reference", "auto"}
    for config in datasets["tinymnist"]["configurations"].values():
        runs = config["runs"]
        assert [r["seed"] for r in runs] == [0]
        for run in runs:
            assert "error" not in run, run
            assert 0 <= run["acc"] <= 1 and 0 <= run["auc"] <= 1
            assert run["wall_s"] > 0 and run["train_images_per_s"] > 0 and run["peak_rss_mb"] > 50
        assert config["summary"]["seeds"] == 1
    reference = datasets["tinymnist"]["configurations"]["reference"]
    assert all(r["epochs_run"] == 2 for r in reference["runs"])  # --epochs shortened the protocol
    assert "resnet18 w1 16x16" not in reference["runs"][0]["plan"]  # the reference always runs at 28 px
    assert "resnet18 w1 28x28 bs" in reference["runs"][0]["plan"] and "adam" in reference["runs"][0]["plan"]
    # the brightness-coded tiny set is learnable: the honest numbers are well above chance
    auto = datasets["tinymnist"]["configurations"]["auto"]["summary"]
    assert auto["auc_mean"] > 0.8


def test_speed_section_and_table(benchmark_run: tuple[dict, str, Path]) -> None:
    result, stdout, _ = benchmark_run
    speed = result["speed"]
    assert speed["matmul_ceiling_gflops"]["fp32"] > 0
    bf16_ceiling = speed["matmul_ceiling_gflops"]["bf16"]
    assert (bf16_ceiling > 0) if speed["native_bf16"] else (bf16_ceiling is None)  # emulated bf16: not measured
    names = [row["configuration"] for row in speed["rows"]]
    assert names[0].startswith("plain fp32") and any("trainer" in n for n in names)
    assert all(row["images_per_s"] > 0 and row["fraction_of_ceiling"] > 0 for row in speed["rows"])
    assert speed["speedup_vs_plain"][names[0]] == pytest.approx(1.0)
    assert all(v > 0 for v in speed["loader_images_per_s"].values())
    scale = result["scale"]
    assert scale["images"] == 100 and scale["loader_workers"] == 0 and scale["peak_rss_mb"] > 0
    assert "| tinymnist | reference |" in stdout and "| tinymnist | auto |" in stdout
    assert "published" not in stdout  # no published rows for sets the paper does not list
    assert "x plain" in stdout and "skipped" in stdout


def _bench_module():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(SCRIPT.parent))
    import medmnist as bench  # type: ignore[import-not-found]

    return bench


def test_3d_sets_run_the_reference_at_28_and_auto_at_28_and_native() -> None:
    import argparse

    bench = _bench_module()
    args = argparse.Namespace(
        epochs=0, budget_s=600.0, short_budget_s=0.0, distil=None, distil_budget_s=60.0, variant=[]
    )
    configs = bench.configurations(3, 64, args)
    assert set(configs) == {"reference", "auto-28", "auto-64"}
    assert configs["reference"]["input_size"] == 28 and configs["reference"]["epochs"] == 100
    assert configs["auto-28"]["input_size"] == 28 and configs["auto-64"]["input_size"] == 64  # native volume
    assert configs["auto-64"]["time_budget_s"] < 600  # part of the budget is kept for loading and testing
    assert set(bench.configurations(2, 28, args)) == {"reference", "auto"}
    args.distil = "simple-cnn"  # --distil also trains the student network alone under the student's budget
    alone = bench.configurations(2, 28, args)["simple-cnn-alone"]
    assert alone == {"network": "simple-cnn", "time_budget_s": 60.0, "ensemble_budget_max": 1}


def test_variants_are_the_budgeted_plan_with_their_fields_on_top() -> None:
    import argparse

    bench = _bench_module()
    args = argparse.Namespace(
        epochs=0, budget_s=100.0, short_budget_s=0.0, distil=None, variant=['mixup={"mixup": 0.2}', 'wide={"width": 1}']
    )
    configs = bench.configurations(2, 28, args)
    assert configs["auto-mixup"] == {**configs["auto"], "mixup": 0.2}
    assert configs["auto-wide"] == {**configs["auto"], "width": 1}
    assert bench.configurations(3, 64, args)["auto-mixup"] == {**configs["auto"], "input_size": 28, "mixup": 0.2}
    for wrong in ("mixup", "mixup=0.2", '={"mixup": 0.2}'):
        args.variant = [wrong]
        with pytest.raises(SystemExit, match="--variant"):
            bench.configurations(2, 28, args)


def test_official_metrics_match_medmnist_definitions() -> None:
    bench = _bench_module()
    y = np.array([0, 1, 1, 0])
    binary = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.6, 0.4]])
    assert bench.official_metrics(y, binary) == pytest.approx((1.0, 1.0))  # AUC of the positive-class score
    swapped = binary[:, ::-1]
    assert bench.official_metrics(y, swapped) == pytest.approx((0.0, 0.0))
    y3 = np.array([0, 1, 2, 2])
    three = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.35, 0.05], [0.1, 0.1, 0.8]])
    acc, auc = bench.official_metrics(y3, three)
    assert acc == pytest.approx(0.75)
    # macro one-vs-rest: classes 0 and 1 rank perfectly; class 2's scores 0.05 and 0.8 beat 0.1, 0.1 in 2 of 4 pairs
    assert auc == pytest.approx((1 + 1 + 0.5) / 3)


def test_published_rows_are_listed_for_known_sets() -> None:
    bench = _bench_module()

    table = bench.format_table(
        {"datasets": {"pneumoniamnist": {"configurations": {}}, "adrenalmnist3d_64": {"configurations": {}}}}
    )
    assert "Google AutoML Vision | MedMNIST v2 paper | | 0.946 | 0.991" in table
    assert "auto-sklearn (28^3) | MedMNIST v2 paper | | 0.802 | 0.828" in table


def test_summary_over_seeds() -> None:
    runs = [
        {
            "seed": 0,
            "plan": "resnet18",
            "acc": 0.8,
            "auc": 0.9,
            "wall_s": 10.0,
            "train_images_per_s": 100.0,
            "peak_rss_mb": 500.0,
        },
        {
            "seed": 1,
            "plan": "resnet18",
            "acc": 0.9,
            "auc": 0.95,
            "wall_s": 12.0,
            "train_images_per_s": 120.0,
            "peak_rss_mb": 520.0,
        },
        {"seed": 2, "error": "killed"},
    ]
    summary = _bench_module().summarise(runs)
    assert summary["seeds"] == 2 and summary["errors"] == ["killed"]
    assert summary["acc_mean"] == pytest.approx(0.85) and summary["acc_sd"] == pytest.approx(0.0707107, rel=1e-5)
    assert summary["auc_mean"] == pytest.approx(0.925) and summary["wall_s_sd"] == pytest.approx(1.4142136)
