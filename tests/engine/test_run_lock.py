"""Run folders cannot collide: one process per folder (a second is refused, naming the holder), a dead holder never
blocks, automatic ``expN`` folders are created exclusively, leftovers of killed writes are swept, and reports appear
whole or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from medimg.errors import RunFolderError
from medimg.fileio import atomic_directory
from medimg.run_folder import RunLock, claim_run_dir, create_run_dir, sweep_leftovers

HOLDER = textwrap.dedent(
    """
    import sys, time
    from medimg.run_folder import RunLock
    lock = RunLock(sys.argv[1]); lock.acquire()
    print("held", flush=True)
    time.sleep(120)
    """
)


def _hold_in_subprocess(folder: Path) -> subprocess.Popen[str]:
    """A separate process holding ``folder``'s lock until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held", holder.stderr.read() if holder.stderr else ""
    return holder


def test_a_second_lock_on_the_same_folder_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = RunLock(run)
    first.acquire()
    try:
        assert (run / ".lock").is_file()
        with pytest.raises(RunFolderError) as refused:
            RunLock(run).acquire()
        message = str(refused.value)
        assert str(run) in message and f"pid {os.getpid()}" in message and "another --run-dir" in message
    finally:
        first.release()
    assert not (run / ".lock").exists()
    with RunLock(run) as again:  # free once released
        assert again.held


def test_a_live_process_holds_the_folder_and_its_death_frees_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = _hold_in_subprocess(run)
    try:
        with pytest.raises(RunFolderError, match=f"pid {holder.pid}"):
            RunLock(run).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (run / ".lock").is_file()  # the dead holder's file is still there...
    with RunLock(run) as lock:  # ...but does not block: the kernel dropped the lock with the process
        assert lock.held
        assert lock.holder()["pid"] == os.getpid()


def test_fit_on_a_folder_held_by_another_process_is_refused_cleanly(tmp_path: Path, phantom_dir: Path) -> None:
    run = tmp_path / "run"
    holder = _hold_in_subprocess(run)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "medimg", "fit", str(phantom_dir), "--epochs", "1", "--run-dir", str(run)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert f"{run} is in use by another medimg process (pid {holder.pid}" in done.stderr
    assert not (run / "config.json").exists()  # nothing of the refused run was written


def test_automatic_run_folders_are_distinct_under_a_race(tmp_path: Path) -> None:
    created: list[Path] = []
    start = threading.Barrier(8)

    def pick() -> None:
        start.wait()
        created.append(create_run_dir(tmp_path, "data set"))

    threads = [threading.Thread(target=pick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(created)) == 8
    assert sorted(p.name for p in created) == sorted(f"exp{n}" for n in range(1, 9))
    assert all(p.is_dir() and p.parent.name == "data_set" for p in created)


def test_prediction_calls_running_together_never_share_a_folder(tmp_path: Path) -> None:
    """Two predict calls on one run chose RUN/predictions both (it was numbered by "not empty", checked before
    either wrote), and the second call's masks replaced the first's."""
    from medimg.run_folder import predictions_dir

    start = threading.Event()
    chosen: list[Path] = []

    def pick() -> None:
        start.wait()
        chosen.append(predictions_dir(tmp_path))

    threads = [threading.Thread(target=pick) for _ in range(6)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in chosen) == ["predictions", *(f"predictions{n}" for n in range(2, 7))]
    assert all(p.is_dir() for p in chosen)


class _Rank:
    """The part of :class:`~medimg.engine.distributed.Distributed` that ``claim_run_dir`` uses, for rank 1."""

    is_main = False

    def __init__(self, rank0_says: str | None) -> None:
        self.rank0_says = rank0_says

    def broadcast(self, obj: Any) -> Any:
        return self.rank0_says


def test_other_ranks_neither_lock_nor_wait_and_share_rank_0s_refusal(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with claim_run_dir(run, _Rank(None)):  # type: ignore[arg-type]
        assert not (run / ".lock").exists()  # rank 0 holds it, not this rank
    refusal = _Rank(f"{run} is in use by another medimg process")
    with pytest.raises(RunFolderError, match="in use"), claim_run_dir(run, refusal):  # type: ignore[arg-type]
        pass


def test_claiming_sweeps_what_killed_writes_left(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    leftovers = [run / "checkpoints" / ".last.pt.k2j3.tmp", run / ".metadata.json.x1.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    half_report = run / ".report.q9.tmp"
    half_report.mkdir()
    (half_report / "roc.png").write_bytes(b"png")
    kept = [run / "checkpoints" / "last.pt", run / "notes.tmp", run / "model.pt"]
    for path in kept:
        path.write_bytes(b"keep")
    with claim_run_dir(run):
        assert not any(p.exists() for p in [*leftovers, half_report])
        assert all(p.is_file() for p in kept)
    assert sweep_leftovers(run) == []


def test_a_report_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "run" / "report"
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as staging:
        (staging / "roc.png").write_bytes(b"one plot")
        raise KeyboardInterrupt  # killed mid-report
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_directory(target) as staging:
        (staging / "old.png").write_bytes(b"old")
    with atomic_directory(target) as staging:
        (staging / "report.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["report.json"]  # replaced whole: no stale plot
    assert [p.name for p in target.parent.iterdir()] == ["report"]


def test_a_folder_the_user_named_keeps_its_other_files(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with atomic_directory(target, replace=False) as staging:
        (staging / "plot.png").write_bytes(b"p")
        time.sleep(0.01)
        (staging / "report.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "plot.png", "report.json"]


def test_a_fit_leaves_no_lock_and_a_failed_re_evaluation_keeps_the_old_report(
    tmp_path: Path, phantom_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medimg import Model

    run = tmp_path / "run"
    model = Model("simple-cnn").fit(phantom_dir, run_dir=run, epochs=1, progress=False, tensorboard=False)
    assert not (run / ".lock").exists()
    assert not [p for p in run.rglob("*.tmp")]
    before = sorted(p.name for p in (run / "report").iterdir())
    assert "report.json" in before and "report.html" in before

    def killed_mid_report(*args: Any, out_dir: Path, **kwargs: Any) -> None:
        (out_dir / "roc.png").write_bytes(b"one plot, then the process dies")
        raise KeyboardInterrupt

    monkeypatch.setattr(model._task, "evaluate", killed_mid_report)
    with pytest.raises(KeyboardInterrupt):
        model.evaluate()
    assert sorted(p.name for p in (run / "report").iterdir()) == before  # the complete old report, untouched
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_evaluate_and_export_write_into_a_run_only_while_no_one_else_holds_it(tmp_path: Path) -> None:
    """`hold_trained_run`: a report or model.onnx inside the run is written holding the run's lock; output elsewhere
    only needs the run not to be held (evaluations into other folders run side by side)."""
    from medimg.run_folder import hold_trained_run

    run = tmp_path / "run"
    run.mkdir()
    with hold_trained_run(run, run / "report", doing="evaluate"):
        assert (run / ".lock").is_file()
        with pytest.raises(RunFolderError, match="in use by another medimg process"):
            RunLock(run).acquire()  # a fit started now is refused
    assert not (run / ".lock").exists()
    with hold_trained_run(run, tmp_path / "elsewhere" / "report", doing="evaluate"):
        assert not (run / ".lock").exists()
        with hold_trained_run(run, tmp_path / "other" / "model.onnx", doing="export"):
            pass  # side by side
    holder = _hold_in_subprocess(run)
    try:
        for target in (run / "report", tmp_path / "elsewhere", run / "model.onnx"):
            refused = pytest.raises(RunFolderError, match=f"pid {holder.pid}.*when that has finished")
            with refused, hold_trained_run(run, target, doing="export"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    with hold_trained_run(run, run / "report", doing="evaluate"):  # a dead holder blocks nothing
        pass


def test_evaluate_and_export_of_a_run_being_trained_are_refused_naming_the_fit(
    tmp_path: Path, phantom_dir: Path
) -> None:
    from typer.testing import CliRunner

    from medimg import Model
    from medimg.cli.app import app

    run = tmp_path / "run"
    Model("simple-cnn").fit(phantom_dir, run_dir=run, epochs=1, progress=False, tensorboard=False)
    report = (run / "report" / "report.json").read_bytes()
    holder = _hold_in_subprocess(run)  # as a `medimg fit --resume` on it would
    try:
        done = subprocess.run(
            [sys.executable, "-m", "medimg", "evaluate", str(run)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Traceback" not in done.stderr
        assert f"{run} is in use by another medimg process (pid {holder.pid}" in done.stderr
        assert "evaluate the run when that has finished" in done.stderr
        if _importable("onnx"):
            exported = CliRunner().invoke(app, ["export", str(run)])
            assert isinstance(exported.exception, RunFolderError), exported.output
            assert f"pid {holder.pid}" in str(exported.exception) and not (run / "model.onnx").exists()
        elsewhere = CliRunner().invoke(app, ["evaluate", str(run), "--split", "val", "--out", str(tmp_path / "v")])
        assert isinstance(elsewhere.exception, RunFolderError)  # not even read while it is being trained
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (run / "report" / "report.json").read_bytes() == report  # nothing was written while it was held
    again = CliRunner().invoke(app, ["evaluate", str(run), "--split", "val"])  # finished and free: evaluated
    assert again.exit_code == 0, again.output
    assert (run / "evaluations").is_dir() and not (run / ".lock").exists()


def test_loading_a_run_that_is_being_trained_for_the_first_time_names_the_fit(tmp_path: Path) -> None:
    from medimg import Model

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    holder = _hold_in_subprocess(run)
    try:
        with pytest.raises(RunFolderError, match=f"is being trained \\(pid {holder.pid}"):
            Model.load(run)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
