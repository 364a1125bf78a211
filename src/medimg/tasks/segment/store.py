"""Where a segmentation fit keeps its cases: in memory while they fit the case-memory budget, beyond it in ``.npy``
files mapped into memory (nnU-Net's preprocessed folder), so a set of large CT or MR volumes trains in bounded
memory: the operating system pages the patches in and drops them again.

The budget (:func:`~medimg.data.memory.case_memory_budget`) applies separately to the cases as read (kept between
planning and training) and to the prepared ones. A folder left by a killed run is deleted by the next store made in
the same run folder on the same machine (:func:`remove_stale_folders`).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from medimg.data.memory import MEMORY_ENV, case_memory_budget, nbytes
from medimg.errors import RunFolderError

logger = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


#: in each store's folder: ``<host> <pid>`` of the process that made it
OWNER_FILE = "owner"


def remove_stale_folders(parent: Path) -> list[Path]:
    """Delete the ``.prepared-*`` folders under ``parent`` whose process ended without deleting them (a run
    killed by the OS or a power cut): made on this host by a process that no longer runs. Folders of other hosts
    (a shared file system) and without an owner are left. Returns the folders deleted."""
    removed = []
    for folder in sorted(parent.glob(".prepared-*")):
        try:
            host, pid = (folder / OWNER_FILE).read_text().split()
        except (OSError, ValueError):
            continue
        if host != socket.gethostname() or _running(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
        logger.info("deleted %s, left by a run that ended without cleaning up (process %s)", folder, pid)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class CaseStore:
    """Keeps prepared arrays in memory up to ``budget`` bytes and memory-maps the rest from a temporary folder
    under ``parent`` (the run folder: the data's disk, not a RAM-backed ``/tmp``), deleted with the store.

    Args:
        parent: folder the temporary folder is made in (the system's temporary folder when ``None``).
        budget: bytes kept in memory (default :func:`case_memory_budget`).
    """

    def __init__(self, parent: Path | None = None, budget: int | None = None) -> None:
        self.budget = case_memory_budget() if budget is None else budget
        self.in_memory = 0
        self.on_disk = 0
        self.parent = parent
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def keep(self, array: ArrayT) -> ArrayT:
        """``array`` itself while the budget holds it, else a memory-mapped copy of the same type and values."""
        size = nbytes(array)
        if self.in_memory + size <= self.budget:
            self.in_memory += size
            return array
        if self._folder is None:
            if self.parent is not None:
                self.parent.mkdir(parents=True, exist_ok=True)
                remove_stale_folders(self.parent)
            self._folder = tempfile.TemporaryDirectory(prefix=".prepared-", dir=self.parent, ignore_cleanup_errors=True)
            (Path(self._folder.name) / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
            logger.info(
                "cases beyond %.0f MB are kept on disk (%s) and memory-mapped; set %s to change the budget",
                self.budget / 2**20,
                self._folder.name,
                MEMORY_ENV,
            )
        path = Path(self._folder.name) / f"{self.on_disk}.npy"
        values = array.numpy() if isinstance(array, torch.Tensor) else array
        try:
            np.save(path, np.ascontiguousarray(values))
        except OSError as error:  # a full disk, a read-only run folder
            path.unlink(missing_ok=True)
            raise RunFolderError(
                f"cannot write the prepared cases beyond the case-memory budget to {self._folder.name} ({error}): "
                f"free disk space there, or raise {MEMORY_ENV} (now {self.budget / 2**20:.0f} MB) to hold more "
                "in memory"
            ) from error
        self.on_disk += 1
        mapped = np.load(path, mmap_mode="r+")
        return torch.from_numpy(mapped) if isinstance(array, torch.Tensor) else mapped
