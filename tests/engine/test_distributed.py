"""Multi-process training with torchrun/DDP on 2 CPU processes (gloo): the command works both ways, the run folder
is complete and loadable, the loss decreases, and the result is close to a 1-process run with the same global
batch. Classification on small phantoms, segmentation on tiny disc images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from medimg.cli.launch import strip_launch_options, torchrun_command

pytestmark = pytest.mark.e2e

BUNDLE = ("config.json", "splits.json", "fingerprint.json", "plan.json", "metadata.json", "model.pt", "metrics.jsonl")


def _medimg(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "medimg", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _torchrun(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "medimg"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, env=env)


#: the classification fit of every multi-process run here
CLASSIFY = ["--epochs", "4", "--batch-size", "16", "--set", "amp=none", "--no-progress", "--network", "simple-cnn"]


def _history(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medimg.data.synthetic import make_phantom_dataset

    root = tmp_path_factory.mktemp("ddp") / "phantoms"
    make_phantom_dataset(root, n_per_class=48, size=32, seed=0)
    return root


@pytest.fixture(scope="module")
def classify_runs(phantoms: Path) -> dict[str, Path]:
    """The same fit with 1 process and with torchrun -m medimg (same global batch); `medimg fit --nproc-per-node`,
    which starts torchrun itself, is the launcher of :func:`test_resume_with_nproc_per_node`."""
    runs = {name: phantoms.parent / name for name in ("one", "torchrun")}
    done = _medimg("fit", str(phantoms), *CLASSIFY, "--run-dir", str(runs["one"]))
    assert done.returncode == 0, done.stderr[-2000:]
    done = _torchrun("fit", str(phantoms), *CLASSIFY, "--run-dir", str(runs["torchrun"]))
    assert done.returncode == 0, done.stderr[-2000:]
    return runs


def test_two_processes_write_a_complete_loadable_run(classify_runs: dict[str, Path], phantoms: Path) -> None:
    from medimg.model import Model

    run = classify_runs["torchrun"]
    assert all((run / f).is_file() for f in BUNDLE), sorted(p.name for p in run.iterdir())
    assert (run / "report" / "report.json").is_file()
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["training"]["processes"] == 2
    prediction = Model.load(run).predict(phantoms / "lesion" / "phantom_0000.png")[0]
    assert prediction.label in {"normal", "lesion"}
    assert len(_history(run)) == 4  # one row per epoch, written by rank 0 alone


def test_two_processes_learn_like_one(classify_runs: dict[str, Path]) -> None:
    one, two = _history(classify_runs["one"]), _history(classify_runs["torchrun"])
    assert two[-1]["train_loss"] < two[0]["train_loss"]  # the loss decreases
    # same global batch, gradients averaged over the ranks: close to the 1-process curve (BatchNorm statistics are
    # per rank, so not identical)
    assert abs(two[-1]["train_loss"] - one[-1]["train_loss"]) < 0.15
    reports = [json.loads((classify_runs[n] / "report" / "report.json").read_text()) for n in ("one", "torchrun")]
    assert abs(reports[0]["metrics"]["roc_auc"] - reports[1]["metrics"]["roc_auc"]) < 0.1
    assert reports[1]["metrics"]["roc_auc"] > 0.8


def test_resume_with_nproc_per_node(classify_runs: dict[str, Path], phantoms: Path, tmp_path: Path) -> None:
    """An interrupted 2-process run continues with --resume (checkpoints read by every rank), here through
    `medimg fit --nproc-per-node 2`, which starts torchrun itself: rank 0 alone reports."""
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(classify_runs["torchrun"], run)
    for name in ("model.pt", "metadata.json"):
        (run / name).unlink()  # as if the run had been killed after its last checkpoint
    done = _medimg("fit", str(phantoms), *CLASSIFY, "--nproc-per-node", "2", "--run-dir", str(run), "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run folder:") == 1  # rank 0 reports once
    assert (run / "model.pt").is_file() and len(_history(run)) == 4
    assert json.loads((run / "metadata.json").read_text())["training"]["processes"] == 2


def test_segmentation_with_two_processes(tmp_path: Path) -> None:
    from medimg.model import Model
    from tests.tasks.segment.synthetic import write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=16, size=48)
    run = tmp_path / "seg"
    done = _torchrun(
        "fit", str(data), "--task", "segment", "--epochs", "3", "--batch-size", "8",
        "--set", "iterations_per_epoch=6", "--set", "channels=[8,16,32]", "--set", "amp=none", "--set", "tta=false",
        "--no-progress", "--run-dir", str(run),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert all((run / f).is_file() for f in BUNDLE)
    history = _history(run)
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]
    model = Model.load(run)
    assert model.task == "segment" and model.metadata_["training"]["processes"] == 2
    assert model.predict(data / "images" / "case_00.png", out_dir=tmp_path / "out")[0].mask_path


def test_launcher_forwards_the_command_without_its_own_options() -> None:
    args = ["fit", "data", "--nproc-per-node", "2", "--epochs", "3", "--nnodes=1", "--rdzv-id", "x"]
    assert strip_launch_options(args) == ["fit", "data", "--epochs", "3"]
    single = torchrun_command(["fit", "data"], 2)
    assert "--standalone" in single and single[-3:] == ["medimg", "fit", "data"]
    multi = torchrun_command(["fit", "d"], 4, nnodes=2, node_rank=1, rdzv_endpoint="10.0.0.1:29400")
    assert "--nnodes=2" in multi and "--rdzv-endpoint=10.0.0.1:29400" in multi and "--node-rank=1" in multi


def test_multi_node_without_an_endpoint_is_refused() -> None:
    from medimg.errors import ConfigError

    with pytest.raises(ConfigError, match="rdzv-endpoint"):
        torchrun_command(["fit", "d"], 2, nnodes=2)


def test_a_stop_sent_to_medimg_stops_torchrun_and_its_workers(phantoms: Path, tmp_path: Path) -> None:
    """`kill` (SIGTERM) on `medimg fit --nproc-per-node 2` stopped only medimg: torchrun and its workers went on
    training in the background and wrote the run folder."""
    import signal
    import time

    run = tmp_path / "stopped"

    def processes_of_the_run() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(run).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = ["fit", str(phantoms), "--epochs", "500", "--network", "simple-cnn", "--no-progress"]
    medimg = subprocess.Popen(
        [sys.executable, "-m", "medimg", *command, "--nproc-per-node", "2", "--run-dir", str(run)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while not (run / "metrics.jsonl").is_file() and time.monotonic() < deadline:
            time.sleep(0.5)  # training has begun in the workers
        assert (run / "metrics.jsonl").is_file()
        medimg.send_signal(signal.SIGTERM)
        medimg.wait(timeout=120)
        deadline = time.monotonic() + 60
        while processes_of_the_run() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_of_the_run() == []
        assert not (run / "model.pt").exists()  # stopped, not trained to the end in the background
    finally:
        for pid in processes_of_the_run():
            os.kill(pid, signal.SIGKILL)
        if medimg.poll() is None:
            medimg.kill()


def test_a_batch_smaller_than_the_processes_is_refused(phantoms: Path, tmp_path: Path) -> None:
    """--batch-size 1 with 2 processes gave one process empty batches and a ValueError traceback."""
    done = _torchrun(
        "fit", str(phantoms), "--epochs", "1", "--batch-size", "1", "--network", "simple-cnn", "--no-progress",
        "--run-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert done.returncode != 0
    assert "batch_size 1 is smaller than the 2 training processes" in done.stderr and "ValueError" not in done.stderr


def test_a_classical_model_is_not_started_in_several_processes(phantoms: Path, tmp_path: Path) -> None:
    """`--model random-forest --nproc-per-node 2` trained it twice and wrote two run folders."""
    done = _medimg(
        "fit", str(phantoms), "--model", "random-forest", "--nproc-per-node", "2", "--run-dir", str(tmp_path / "r")
    )
    assert done.returncode == 2 and "random-forest is a classical model, trained in one process" in done.stderr
    assert not (tmp_path / "r").exists()


def _sums_on(rank: int, port: int, results: Any) -> None:
    import torch.distributed as torch_dist

    from medimg.engine.distributed import Distributed

    torch_dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        results[rank] = Distributed(rank=rank, world_size=2).sums(float(rank + 1), 10.0)
    finally:
        torch_dist.destroy_process_group()


def test_the_logged_training_loss_sums_every_processs_share() -> None:
    """train_loss was rank 0's share of each batch: the trainer now sums loss totals and counts over the ranks
    (``Distributed.sums``), checked here on a real 2-process gloo group."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = mp.Manager().dict()
    mp.spawn(_sums_on, args=(port, results), nprocs=2, join=True)
    assert results[0] == results[1] == (3.0, 20.0)
