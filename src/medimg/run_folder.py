"""A run folder is the model bundle: everything ``Model.load`` needs, written atomically.

Layout::

    RUN/config.json        options, dataset path and loading options, seed
    RUN/dataset.json       dataset summary (classes, counts, source)
    RUN/fingerprint.json   dataset fingerprint (training split)
    RUN/plan.json          the resolved plan (after overrides)
    RUN/splits.json        case -> train/val/test
    RUN/metadata.json      versions, labels, input spec, training summary
    RUN/model.pt           selected weights (state_dict)
    RUN/metrics.jsonl      one line per epoch
    RUN/member_k/          ensemble member k's checkpoints and metrics (k >= 1; member 0 is the run folder)
    RUN/checkpoints/       last.pt (resume) and best.pt
    RUN/report/            report.json, report.html, plots
    RUN/tensorboard/       TensorBoard event files
    RUN/.lock              present while a process runs in the folder (its pid, host and start time)

A run folder belongs to one process at a time: :func:`claim_run_dir` holds an exclusive lock on ``RUN/.lock``
for the whole run (training, bundle and report); a second ``medimg fit`` on the same folder is refused with a
message naming the holder. The lock is an ``fcntl.flock``: the kernel drops it when its process dies, so a
killed run never blocks the next one. :func:`create_run_dir` picks ``runs/<data>/expN`` by creating the folder
exclusively, so two runs started together never share one. ``evaluate`` and ``export`` of a trained run go through
:func:`hold_trained_run`: they are refused while a fit holds the folder, and hold it themselves while they write
into it (``RUN/report``, ``RUN/evaluations``, ``RUN/model.onnx``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import socket
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medimg.errors import RunFolderError
from medimg.fileio import TEMPORARY_SUFFIX, atomic_write_json
from medimg.io.inputs import shell_quoted

if TYPE_CHECKING:
    from medimg.engine.distributed import Distributed

logger = logging.getLogger(__name__)

BUNDLE_FILES = ("plan.json", "metadata.json", "model.pt")
LOCK_FILE = ".lock"


#: files and folders only a run folder holds (one of them is enough: an interrupted run has no metadata yet)
RUN_TRACES = ("metadata.json", "config.json", "plan.json", "checkpoints", "cv.json")


#: what fit writes into a run folder before anything else: the copy of data given as arrays
#: (:mod:`medimg.data.given_arrays`) or as lists of files (:mod:`medimg.data.given_files`)
ARRAYS_COPY, FILES_COPY = "training_data.npz", "training_labels.csv"
RUN_DATA_COPIES = frozenset({ARRAYS_COPY, FILES_COPY})


def looks_like_run(folder: Path) -> bool:
    """True for a folder a training run wrote into (finished or not)."""
    return folder.is_dir() and any(folder.joinpath(name).exists() for name in RUN_TRACES)


#: keys only medimg's own JSON files of a run hold together (a user's config.json is not a run's)
_RUN_JSON_KEYS = {
    "config.json": {"task", "data"},
    "metadata.json": {"task", "medimg_version"},
    "plan.json": {"network"},
}


def written_by_medimg(folder: Path) -> bool:
    """True for a folder a medimg run wrote into: its ``checkpoints/``, ``cv.json``, or one of its JSON files
    with medimg's keys (a folder of the user's own files with a ``config.json`` is not a run)."""
    if (folder / "checkpoints").is_dir() or (folder / "cv.json").is_file():
        return True
    for name, keys in _RUN_JSON_KEYS.items():
        try:
            record = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and keys <= set(record):
            return True
    return False


def refuse_run_inside_data(run_dir: Path, data_root: Path) -> None:
    """A run folder must lie outside a data folder: its reports and checkpoints would be read as data next time
    (a class "report").

    Raises:
        RunFolderError: ``run_dir`` is the folder ``data_root`` or inside it.
    """
    data = data_root.expanduser().resolve()
    run = run_dir.expanduser().resolve()
    if data.is_dir() and (run == data or data in run.parents):
        raise RunFolderError(
            f"the run folder {run_dir} is inside the data folder {data_root}: the run's files would be read as data "
            "(a class named 'report'...); choose a --run-dir outside it, or run medimg from another folder"
        )


def _natural_order(path: Path) -> list[int | str]:
    """Sort key reading the numbers in a path as numbers (``exp2`` before ``exp10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def run_folder_to_load(path: str | Path) -> Path:
    """The run folder ``path`` names for loading a model, as an absolute path: ``~`` expanded; a file of a run
    (``RUN/model.pt``, as Ultralytics users pass ``best.pt``) names its folder.

    Raises:
        RunFolderError: nothing there; a folder that holds no run (a data folder: the error says what to give; a
            folder of runs: the error lists them).
    """
    folder = Path(path).expanduser()
    if folder.is_file() and folder.parent.joinpath("metadata.json").is_file():
        logger.info("%s is a file of the run in %s: loading that run", folder, folder.parent)
        return folder.parent.absolute()
    if not folder.exists():
        raise RunFolderError(
            f"run folder {folder} does not exist: give the folder `medimg fit` printed as 'run folder:' "
            "(runs/DATA/expN by default)"
        )
    if not folder.is_dir():
        raise RunFolderError(
            f"{folder} is a file, not a run folder: give the folder `medimg fit` wrote (runs/...), first: "
            "medimg predict RUN IMAGES"
        )
    if looks_like_run(folder):
        return folder.absolute()  # a loaded model keeps finding its run after os.chdir (a notebook's %cd)
    found = {p.parent for pattern in ("*/metadata.json", "*/*/metadata.json") for p in folder.glob(pattern)}
    runs = sorted(found, key=_natural_order)  # exp2 before exp10
    if runs:
        listed = ", ".join(str(run) for run in runs[:5]) + (f" (and {len(runs) - 5} more)" if len(runs) > 5 else "")
        raise RunFolderError(f"{folder} holds runs, not one: give one of them ({listed})")
    exported = sorted(folder.glob("*.onnx"))
    if exported:  # a deployment folder (`medimg export RUN --out DEPLOY`): the file runs on ONNX Runtime
        raise RunFolderError(
            f"{folder} holds an exported model, not a training run: predict with it on ONNX Runtime (medimg "
            f"predict {exported[0]} IMAGES); the PyTorch engine, export and evaluate need the run folder `medimg "
            "fit` wrote (it holds metadata.json)"
        )
    raise RunFolderError(
        f"{folder} is not a medimg run folder (no metadata.json or checkpoints): give the folder a training run "
        "wrote (fit prints it; by default runs/<data>/expN)"
    )


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a ``repr`` shows it: relative to the current folder when inside it (``runs/x/exp1``), else as
    it is. Models and datasets hold absolute paths, so that ``os.chdir`` never points them elsewhere."""
    given = Path(path)
    if given.is_absolute():
        with suppress(ValueError):
            return str(given.relative_to(Path.cwd()))
    return str(given)


def predictions_dir(run_dir: Path | None) -> Path:
    """Where a prediction call without an output folder writes its masks or box files: ``RUN/predictions``, or
    ``RUN/predictions2``, ``3``... when it already holds an earlier call's (Ultralytics' habit: a second call on
    another ``c0.png`` replaced the first call's ``c0_mask.png`` without a word).

    The folder is created exclusively, as :func:`create_run_dir` claims ``expN``: two calls running together
    never share one (an existing folder, even an empty one, is passed over)."""
    base = (run_dir or Path(".")) / "predictions"
    number = 1
    while True:
        candidate = base if number == 1 else base.with_name(f"predictions{number}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            number += 1


def release_if_empty(folder: Path) -> None:
    """Remove a :func:`predictions_dir` that its call left empty (every input failed), so no empty
    ``predictionsN`` folder is left behind; a folder holding anything is kept."""
    try:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    except OSError:
        pass  # another process wrote into it meanwhile, or it is not ours to remove


#: what a fit writes into its run folder before the plan is accepted (then a refused option stops it)
RUN_FILES_BEFORE_PLAN = frozenset({"config.json", "dataset.json", "splits.json"})


def discard_unused_copy(folder: Path) -> None:
    """Remove a run folder that fit made and that holds nothing but its copy of data given as arrays or files and
    the files written before the plan was accepted (fit stopped on a bad option before training began: an
    ``--set input_size=100000`` left ``expN`` of config, dataset and splits, each retry another), so no such
    ``expN`` is left behind; a folder a run trained in is kept (``--resume`` continues it)."""
    try:
        entries = [p for p in folder.iterdir() if p.name != LOCK_FILE] if folder.is_dir() else []
        unused = RUN_DATA_COPIES | RUN_FILES_BEFORE_PLAN
        if entries and {p.name for p in entries} <= unused and all(p.is_file() for p in entries):
            shutil.rmtree(folder)
    except OSError:  # a copy that cannot be removed stays: harmless
        logger.debug("could not remove %s", folder, exc_info=True)


def member_dir(run_dir: Path, k: int) -> Path:
    """Where ensemble member ``k`` (from 0) keeps its checkpoints and ``metrics.jsonl``: the run folder itself for
    the first, ``RUN/member_k`` for the others."""
    return run_dir if k == 0 else run_dir / f"member_{k}"


def create_run_dir(base: str | Path, dataset_name: str) -> Path:
    """Create and return ``base/<dataset>/expN`` with the next free N (``runs/herlev/exp3``).

    The folder is created exclusively (``mkdir`` fails if it exists), so two processes started together get
    different folders: the loser of a race moves on to the next N.
    """
    root = _runs_of(base, dataset_name)
    root.mkdir(parents=True, exist_ok=True)
    number = max(_numbered_runs(root), default=0) + 1
    while True:
        candidate = root / f"exp{number}"
        try:
            candidate.mkdir()
        except FileExistsError:
            number += 1
            continue
        return candidate


def latest_resumable_run(base: str | Path, dataset_name: str) -> Path | None:
    """The newest ``base/<dataset>/expN`` that an interrupted fit left (a checkpoint, no finished bundle; a
    cross-validation whose ``cv.json`` is not complete): what ``--resume`` without ``--run-dir`` continues
    (Ultralytics' habit), or ``None``."""
    root = _runs_of(base, dataset_name)
    for number in sorted(_numbered_runs(root), reverse=True):
        run = RunFolder(root / f"exp{number}")
        if run.file("checkpoints/last.pt").is_file() and not run.is_complete():
            return run.path
        if run.file("cv.json").is_file() and not _complete_cross_validation(run):
            return run.path
    return None


def _complete_cross_validation(run: RunFolder) -> bool:
    """Whether the cross-validation of ``run`` finished (``cv.json``'s ``complete``; older ones were written at
    the end only); a damaged ``cv.json`` is not resumed."""
    try:
        record = run.read_json("cv.json")
    except RunFolderError:
        return True
    return not isinstance(record, dict) or bool(record.get("complete", True))


def runs_folder_name(dataset_name: str) -> str:
    """A dataset name as a folder name: letters and digits of any script kept (``肺部X光``, ``Thorax-Röntgen``,
    composed as NFC, the form macOS' decomposed file names are read back in), every other run of characters one
    ``_`` (``Chest X-rays (2024)`` -> ``Chest_X-rays_2024``); ``dataset`` when nothing is left. A name longer than
    a file name may be (255 bytes; 85 Chinese characters) is cut, with a hash of the whole that keeps it apart
    (:func:`medimg.io.formats.distinct_file_name`)."""
    from medimg.io.formats import distinct_file_name

    name = distinct_file_name(unicodedata.normalize("NFC", dataset_name) or "dataset", tag_changes=False).strip("_")
    return name if name.strip(".") else "dataset"


def _runs_of(base: str | Path, dataset_name: str) -> Path:
    """The folder of a dataset's numbered runs: ``base/<runs_folder_name(dataset name)>``. Names were ASCII
    letters and digits only before (two Chinese-named datasets shared ``base/_``): where only that older folder
    exists, it is kept, so a run interrupted before stays resumable."""
    folder = Path(base) / runs_folder_name(dataset_name)
    before = Path(base) / re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset_name or "dataset")
    try:
        kept = before != folder and before.is_dir() and not folder.exists()
    except OSError:  # the older name was too long to be a folder
        kept = False
    return before if kept else folder


def _numbered_runs(root: Path) -> list[int]:
    """The ``N`` of the ``expN`` folders in ``root``."""
    return [int(m.group(1)) for p in root.glob("exp*") if (m := re.fullmatch(r"exp(\d+)", p.name))]


class RunLock:
    """An exclusive claim on one run folder, held from :meth:`acquire` to :meth:`release`.

    ``RUN/.lock`` is locked with ``fcntl.flock`` (never blocking) and holds the holder's pid, host, start time
    and command line, so a refused process can say who has the folder. The kernel releases the lock when the
    holder exits or dies; the file itself is removed on release. On platforms without ``fcntl`` (Windows) the
    folder is not locked and a warning says so.

    Args:
        folder: the run folder (created if missing).
        advice: what a refused process is told to do (after naming the holder).
    """

    def __init__(
        self, folder: str | Path, *, advice: str = "wait for it to finish, or choose another --run-dir"
    ) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.advice = advice
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            RunFolderError: another live process holds it (the message names the folder and the holder), or
                the folder cannot be created.
        """
        if self._fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            logger.warning("%s: file locking is not available on this platform; the run folder is not locked", self)
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as error:  # `--run-dir notes.txt`: said as errno 17
            raise RunFolderError(
                f"cannot create the run folder {self.folder}: a file is in the way ({error.strerror}); give a "
                "folder path (--run-dir) or move the file"
            ) from error
        except OSError as error:
            raise RunFolderError(f"cannot create the run folder {self.folder}: {error}") from error
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunFolderError(
                    f"{self.folder} is in use by another medimg process ({self._describe_holder()}); {self.advice}"
                ) from None
            # The holder before us may have removed the file between our open and our lock: then we locked a
            # file nobody else will see. Retry on the file the path names now.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(holder).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Give the folder up (removing ``RUN/.lock``); a no-op when not held."""
        if self._fd is None:
            return
        with suppress(OSError):
            os.unlink(self.path)  # still locked: a process that opens the path now opens a new file
        os.close(self._fd)
        self._fd = None

    def busy(self) -> str | None:
        """Who holds the folder when another process does (pid, host, start, command), else ``None``; takes and
        creates nothing (a shared probe of an existing ``RUN/.lock``), so it works on read-only folders too."""
        if self._fd is not None:
            return None
        try:
            import fcntl

            fd = os.open(self.path, os.O_RDONLY)
        except (ImportError, OSError):  # no lock file (nobody holds it), or no locking on this platform
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return self._describe_holder()
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return None

    def holder(self) -> dict[str, Any]:
        """What the current holder wrote in the lock file (empty when unreadable or being written)."""
        try:
            info = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def _describe_holder(self) -> str:
        info = self.holder()
        if not info:
            return "holder unknown"
        parts = [f"pid {info.get('pid', '?')} on {info.get('host', '?')}"]
        if info.get("started"):
            parts.append(f"since {info['started']}")
        if info.get("command"):
            parts.append(f"running `{info['command']}`")
        return ", ".join(parts)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock({str(self.folder)!r})"


@contextmanager
def claim_run_dir(folder: str | Path, distributed: Distributed | None = None) -> Iterator[Path]:
    """Hold ``folder`` for one run: lock it, sweep what killed runs left, release it at the end.

    Under torchrun rank 0 alone takes the lock; its outcome is broadcast, so when the folder is taken every rank
    raises the same error (none waits forever in a collective).

    Raises:
        RunFolderError: another live process holds the folder.
    """
    lock = RunLock(folder)
    main = distributed is None or distributed.is_main
    refusal: str | None = None
    if main:
        try:
            lock.acquire()
        except RunFolderError as error:
            refusal = str(error)
    if distributed is not None:
        refusal = distributed.broadcast(refusal)
    if refusal is not None:
        lock.release()
        raise RunFolderError(refusal)
    try:
        if main:
            sweep_leftovers(Path(folder))
        yield Path(folder)
    finally:
        lock.release()


@contextmanager
def hold_trained_run(run_dir: str | Path | None, target: str | Path, *, doing: str) -> Iterator[None]:
    """Keep other medimg processes out of a trained run while ``doing`` (``"evaluate"``, ``"export"``) writes
    ``target``.

    A ``target`` inside the run folder (``RUN/report``, ``RUN/evaluations/...``, ``RUN/model.onnx``) is written
    holding the run's lock, so it never interleaves with a fit (or ``--resume``) or another writer of the folder,
    and what killed writers left is swept first. A ``target`` elsewhere only needs the run to be finished: the
    lock is probed (:meth:`RunLock.busy`), not taken, so evaluations of one run into other folders run side by side,
    and a read-only run folder can still be evaluated elsewhere.

    Args:
        run_dir: the run folder (``None``: nothing to hold).
        target: the file or folder about to be written.
        doing: the command, for the refusal's advice.

    Raises:
        RunFolderError: another process holds the run (the message names it: pid, host, start, command), or the
            run folder cannot be locked for a write inside it.
    """
    if run_dir is None:
        yield
        return
    folder = Path(run_dir).resolve()
    lock = RunLock(folder, advice=f"{doing} the run when that has finished (a run is locked while it trains)")
    if not Path(target).resolve().is_relative_to(folder):
        holder = lock.busy()
        if holder is not None:
            raise RunFolderError(f"{folder} is in use by another medimg process ({holder}); {lock.advice}")
        yield
        return
    try:
        lock.acquire()
    except OSError as error:  # the lock file cannot be created: a read-only run folder
        raise RunFolderError(f"cannot lock {folder} to {doing} into it: {error}; write elsewhere (--out)") from error
    try:
        sweep_leftovers(folder)
        yield
    finally:
        lock.release()


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove what a killed writer left in ``folder`` (recursively): ``.NAME.*.tmp`` files of interrupted atomic
    writes and ``.NAME.*.tmp`` folders of interrupted report writes. Call it only while holding the folder.

    Returns:
        The removed paths.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.rglob(f".*{TEMPORARY_SUFFIX}"), key=lambda p: len(p.parts), reverse=True):
        with suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    if removed:
        logger.info("removed %d leftover temporary file(s) of an interrupted run in %s", len(removed), folder)
    return removed


class RunFolder:
    """Read and write the files of one run folder.

    Args:
        path: the folder.
        writable: ``False`` on distributed ranks other than 0: reads work, writes are skipped (rank 0 alone
            writes the bundle).
    """

    def __init__(self, path: str | Path, *, writable: bool = True) -> None:
        self.path = Path(path)
        self.writable = writable

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        if not self.writable:
            return self.file(name)
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.file(name)
        atomic_write_json(target, obj)
        return target

    def trained_data(self) -> Path:
        """The data the run was trained on (``config.json``'s ``data``). Data given as arrays or as lists of files
        is kept inside the run folder (``training_data.npz``, ``training_labels.csv``): that copy is read from
        this folder wherever the run was moved, renamed or copied to (``config.json`` names it where it was
        written).

        Raises:
            RunFolderError: no ``config.json``.
        """
        data = Path(str(self.read_json("config.json")["data"]))
        own_copy = self.file(data.name)
        return own_copy if data.name in RUN_DATA_COPIES and own_copy.is_file() else data

    def read_json(self, name: str) -> Any:
        target = self.file(name)
        if not target.is_file():
            raise RunFolderError(
                f"{self.path} is not a complete medimg run folder: {name} is missing "
                f"(was training interrupted? rerun `medimg fit ... --run-dir {self.path} --resume`)"
            )
        try:
            return json.loads(target.read_text())
        except json.JSONDecodeError as error:
            raise RunFolderError(f"{target} is corrupt: {error}") from error

    def sha256(self, name: str) -> str:
        """SHA-256 of one file of the run (hex)."""
        digest = hashlib.sha256()
        with self.file(name).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def verify_weights(self, metadata: dict[str, Any]) -> None:
        """Check the weight files against the hashes ``metadata.json`` recorded when they were written.

        Raises:
            RunFolderError: a file is missing or its content changed (corrupted on disk or replaced).
        """
        for name, expected in (metadata.get("weights_sha256") or {}).items():
            if not self.file(name).is_file():
                raise RunFolderError(f"{self.file(name)} is missing: the run folder is incomplete")
            if self.sha256(name) != expected:
                raise RunFolderError(
                    f"{self.file(name)} does not match the SHA-256 recorded in metadata.json when it was written: "
                    "the file is corrupted or was replaced. Restore it from a backup or retrain "
                    "(`medimg fit ... --run-dir NEW`)"
                )

    def is_complete(self) -> bool:
        return all(self.file(name).is_file() for name in BUNDLE_FILES)

    def _test_left_unevaluated(self) -> bool:
        """True when the run's split has a test split but no report of it was written (its fit stopped after
        training, e.g. at an image of the test split it could not use)."""
        if self.file("report/report.json").is_file() or self.file("cv.json").is_file():
            return False
        try:
            counts = json.loads(self.file("splits.json").read_text()).get("counts") or {}
        except (OSError, ValueError, AttributeError):
            return False
        return bool(isinstance(counts, dict) and counts.get("test"))

    def _what_blocks_a_new_run(self) -> str:
        """Why a fit without ``--resume`` may not write into this folder, saying what it holds and the ways on."""
        again = "choose another --run-dir (or delete this folder) to train again"
        if not self.is_complete():
            return (
                f"{self.path} holds an unfinished training (checkpoints/last.pt, no model.pt yet): pass --resume to "
                f"continue it from its last epoch, or {again}"
            )
        if self._test_left_unevaluated():
            return (
                f"{self.path} holds a trained model (model.pt) whose fit stopped before evaluating it on the test "
                f"split (no report/): `medimg evaluate {shell_quoted(self.path)}` evaluates it, --resume finishes "
                f"that fit (its training is done), or {again}"
            )
        return f"{self.path} already holds a trained run; choose another --run-dir, or pass --resume to continue it"

    def ensure_writable(self, *, resume: bool) -> None:
        """Refuse to overwrite a finished run unless resuming: results already written are never lost."""
        if not self.path.exists():
            return
        if not resume and (self.is_complete() or self.file("checkpoints/last.pt").is_file()):
            raise RunFolderError(self._what_blocks_a_new_run())
        others = sorted(p.name for p in self.path.iterdir() if not p.name.startswith(".")) if self.path.is_dir() else []
        if others and not written_by_medimg(self.path) and not set(others) <= RUN_DATA_COPIES:
            raise RunFolderError(
                f"{self.path} holds other files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}), not a "
                "medimg run: a run would write among them and replace files of the same name; choose a new or empty "
                "--run-dir"
            )


class RunMetadata(BaseModel):
    """``metadata.json``: what a bundle holds and how it was made.

    Attributes:
        task: the task registry name (``classify``, ``segment``...).
        backend: ``torch`` (a network in ``model.pt``) or ``sklearn`` (an estimator in ``model.joblib``).
        network: the network or estimator name.
        class_names: label names, index-aligned with the model's outputs.
        input: what the model expects (spatial dims, channels, size, DICOM window...).
        training: the training summary (best epoch, time, ensemble, counts, skipped files...).
        weights_sha256: SHA-256 of each weight file (``model.pt``...) as written; checked on every load.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    medimg_version: str = ""
    torch_version: str = ""
    python_version: str = ""
    created: str = ""
    task: str = "classify"
    backend: Literal["torch", "sklearn"] = "torch"
    network: str = ""
    class_names: list[str] = Field(default_factory=list)
    input: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    weights_sha256: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        task: str,
        network: str,
        class_names: list[str],
        input_spec: dict[str, Any],
        training: dict[str, Any],
        backend: Literal["torch", "sklearn"] = "torch",
        **extra: Any,
    ) -> RunMetadata:
        """Metadata of a run finished now, with this process's versions."""
        import torch

        from medimg import __version__

        return cls(
            medimg_version=__version__,
            torch_version=torch.__version__,
            python_version=platform.python_version(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            task=task,
            backend=backend,
            network=network,
            class_names=list(class_names),
            input=input_spec,
            training=training,
            **extra,
        )
