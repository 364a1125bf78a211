"""The service's private working folder: where an upload lives, briefly, while the image readers (which read
files) decode it.

Nothing identifying reaches it: a DICOM upload is de-identified in memory first (:mod:`medimg.io.deidentify`),
and the multipart body is parsed in memory (:mod:`medimg.serve.uploads`). Each request gets a folder that is
deleted when the request ends. A server killed mid-request cannot delete it, so every server holds an exclusive
lock on a folder of its own under the shared root, and every start sweeps the folders whose lock nobody holds
(their server is gone), plus the ``medimg-upload-*`` temporary folders older medimg versions left behind.

Layout (root ``<system temp>/medimg-serve-<uid>``, mode 0700, refused if another user owns it)::

    medimg-serve-1000/
      server-4242-x1y2.lock    flock'ed by the running server 4242 (locked first, then renamed into place)
      server-4242-x1y2/        its folder
        request-ab12/          one per request in flight
          upload.png
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from medimg.errors import ConfigError
from medimg.serve.workers import Busy

try:
    import fcntl
except ImportError:  # Windows: no flock; folders of stopped servers are then swept by age only
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("medimg.serve")

#: the errors of a full or read-only disk, answered 503 (an operator frees space; the client retries)
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
#: the ``Retry-After`` then, seconds
DISK_FULL_RETRY_S = 30

LOCK_SUFFIX = ".lock"
UNLOCKED_GRACE_S = 3600.0
"""An entry with no lock file (or any entry, without flock) is swept once it is this old."""
LEGACY_PREFIX = "medimg-upload-"
"""Temporary folders of medimg versions before the workspace (swept when older than the grace time)."""


def default_root() -> Path:
    """``<system temp>/medimg-serve-<uid>``: one root per user, shared by that user's servers."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"medimg-serve-{uid}"


def _private_folder(root: Path) -> None:
    """Create ``root`` with mode 0700, or check an existing one is a real folder that we own, and make it 0700."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"the upload folder {root} is not a plain folder (a link?); remove it or choose --work-dir")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigError(
            f"the upload folder {root} belongs to another user (uid {info.st_uid}); remove it or choose --work-dir"
        )
    os.chmod(root, 0o700)


def _try_lock(handle: IO[str]) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _is_unlocked(lock: Path) -> bool:
    """True when no running server holds ``lock`` (we take it, and release it when the handle closes)."""
    try:
        with lock.open("a") as handle:
            return _try_lock(handle)
    except OSError:
        return False


def _is_old(path: Path) -> bool:
    try:
        return time.time() - path.lstat().st_mtime > UNLOCKED_GRACE_S
    except OSError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def sweep(root: Path) -> int:
    """Delete what stopped servers left in ``root`` (and legacy ``medimg-upload-*`` folders); returns the count.

    A server's folder goes when its lock file is not locked (the server is gone); a folder without a lock file,
    or any other entry, only once it is older than :data:`UNLOCKED_GRACE_S` (a server may be starting).
    """
    removed = 0
    for entry in sorted(root.iterdir()):
        if entry.suffix == ".lock":
            continue
        lock = root / f"{entry.name}{LOCK_SUFFIX}"
        gone = _is_unlocked(lock) if fcntl is not None and lock.is_file() else _is_old(entry)
        if not gone:
            continue
        try:
            _remove(entry)
            lock.unlink(missing_ok=True)
            removed += 1
        except OSError as error:
            logger.warning("could not remove %s from the upload folder (%s)", entry.name, type(error).__name__)
    for lock in root.glob(f"*{LOCK_SUFFIX}"):  # locks whose folder is already gone
        if not (root / lock.stem).exists() and _is_unlocked(lock):
            lock.unlink(missing_ok=True)
    for legacy in Path(tempfile.gettempdir()).glob(LEGACY_PREFIX + "*"):
        try:
            info = legacy.lstat()
            ours = not hasattr(os, "getuid") or info.st_uid == os.getuid()
            if ours and stat.S_ISDIR(info.st_mode) and _is_old(legacy):
                shutil.rmtree(legacy)
                removed += 1
        except OSError:
            continue
    return removed


def usable_root(root: Path | None) -> Path:
    """The private root uploads are read under (``root``, or :func:`default_root`), made if missing.

    ``medimg serve`` calls it before it opens the database, so a --work-dir it cannot use creates nothing.

    Raises:
        ConfigError: the folder cannot be made or used (a path under a file, a read-only or full disk, no
            permission), naming it and --work-dir.
    """
    folder = Path(root) if root is not None else default_root()
    try:
        _private_folder(folder)
    except OSError as error:
        raise ConfigError(
            f"cannot use the upload folder {folder}: {error.strerror or type(error).__name__}; choose a folder "
            "you may write to, on a disk with free space, with --work-dir"
        ) from error
    return folder


class UploadWorkspace:
    """This server's folder under the private root (locked while the server runs), and one folder per request.

    Args:
        root: the shared private root (default :func:`default_root`).
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = usable_root(root)
        swept = sweep(self.root)
        if swept:
            logger.info("removed %d upload folder(s) left by stopped servers", swept)
        # Lock first (under a name sweeps ignore), then make the folder, then put the lock in place: a sweep by
        # a server starting at the same moment never sees this folder without its lock held.
        handle, pending = tempfile.mkstemp(prefix=".pending-", dir=self.root)
        self._lock: Any = os.fdopen(handle, "w")
        if not _try_lock(self._lock):  # cannot happen: nobody else knows the file yet
            raise ConfigError(f"could not lock {pending} in the upload folder")
        self.folder = Path(tempfile.mkdtemp(prefix=f"server-{os.getpid()}-", dir=self.root))
        os.replace(pending, self.root / f"{self.folder.name}{LOCK_SUFFIX}")

    @contextmanager
    def request_folder(self) -> Iterator[Path]:
        """A new empty folder (mode 0700) for one request; deleted with everything in it when the block ends.

        Raises:
            Busy: the upload folder's disk is full (or read-only): a 503 with ``Retry-After`` (nothing was stored;
                the same upload succeeds once space is freed), logged with the folder, instead of a bare 500.
        """
        try:
            folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.folder))
            try:
                yield folder
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError as error:
            if error.errno not in DISK_FULL:
                raise
            logger.error("the upload folder %s cannot be written (%s): answered 503", self.root, error.strerror)
            raise Busy(
                "the server has no room to read the upload now; nothing was stored. Retry later", DISK_FULL_RETRY_S
            ) from None

    def close(self) -> None:
        """Delete this server's folder (and release its lock)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        (self.root / f"{self.folder.name}{LOCK_SUFFIX}").unlink(missing_ok=True)
        self._lock.close()
