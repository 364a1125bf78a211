"""The training loop's progress: a bar on a terminal, a line now and then in a log file.

On a terminal (or in a notebook) an epoch bar with the loss, the epoch's validation metric and the best so far.
Where standard error is a file or a pipe (a Slurm job's log, ``> log.txt 2>&1``) the bar's carriage returns made the log
unreadable, so the loop logs a line instead (INFO, through the CLI's time-stamped log lines)::

    2026-12-05 04:12:09 INFO training big: epoch 7/60, loss 0.693, val_auc 0.8125 (best 0.8400 at epoch 5), 2.1
    s/epoch, ~2 min left

for the first epoch, every tenth of the epochs, at least once a minute when epochs are slow, and the last epoch.
"""

from __future__ import annotations

import logging
import math
import time
from types import TracebackType
from typing import Any

from medimg.terminal import is_interactive, is_quiet

logger = logging.getLogger(__name__)

#: a log line at least this often (seconds) while epochs end
LOG_EVERY_S = 60.0
#: and every this fraction of the epochs
LOG_EVERY_FRACTION = 0.1


def network_label(label: str, k: int, planned: int) -> str:
    """What the progress calls network ``k`` (from 0) of an ensemble of ``planned`` networks trained on ``label``:
    ``"big network 2/3"``, ``label`` alone for a single network, ``"big network 4 (time left)"`` for one beyond the
    plan that fills a time budget the planned ones left unused."""
    if k >= planned:
        return f"{label} network {k + 1} (time left)".strip()
    return label if planned == 1 else f"{label} network {k + 1}/{planned}".strip()


class EpochProgress:
    """Progress over the epochs of one training (a context manager: the bar is closed however the loop ends, so
    an error or an interrupt message starts on a line of its own).

    Args:
        label: what is trained (``"training big"``).
        total: the epochs planned.
        done: epochs already done (a resumed run).
        enabled: False for no progress at all (``--no-progress``, the other processes under torchrun).
    """

    def __init__(self, label: str, *, total: int, done: int = 0, enabled: bool = True) -> None:
        self._label = label
        self._total = total
        self._bar: Any = None
        self._logs = enabled and not is_interactive()
        if enabled and not self._logs and not is_quiet():  # no bar under `medimg --quiet`
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=label, unit="epoch", initial=done, total=total)
        self._started = time.monotonic()
        self._first = done  # the epoch this session started after
        self._logged_epoch, self._logged_at = done, self._started
        self._pending: tuple[int, dict[str, str]] | None = None  # the last epoch not logged yet

    @property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, label: str) -> None:
        """What is trained, renamed (a time budget decided how many networks share it)."""
        self._label = label
        if self._bar is not None:
            self._bar.set_description(label)

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, epochs: int) -> None:
        """The epochs now planned (a time budget fitted them)."""
        self._total = epochs
        if self._bar is not None:
            self._bar.total = epochs
            self._bar.refresh()

    def epoch_done(self, epoch: int, summary: dict[str, str]) -> None:
        """Epoch ``epoch`` ended; ``summary`` is shown (``{"loss": "0.693", "val_auc": "0.8125", "best": "0.8400 at
        epoch 5"}``)."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(**summary)
            return
        if not self._logs:
            return
        now = time.monotonic()
        step = max(1, math.ceil(self._total * LOG_EVERY_FRACTION))
        due = epoch == self._first + 1 or epoch >= self._total or epoch - self._logged_epoch >= step
        if due or now - self._logged_at >= LOG_EVERY_S:
            self._log(epoch, summary, now)
        else:
            self._pending = (epoch, summary)

    def _log(self, epoch: int, summary: dict[str, str], now: float) -> None:
        per_epoch = (now - self._started) / max(1, epoch - self._first)
        left = (self._total - epoch) * per_epoch
        values = dict(summary)
        best = values.pop("best", None)
        shown = ", ".join(f"{key} {value}" for key, value in values.items())
        shown += f" (best {best})" if best is not None else ""
        logger.info(
            "%s: epoch %d/%d, %s, %s/epoch%s",
            self.label,
            epoch,
            self._total,
            shown,
            _duration(per_epoch),
            f", ~{_duration(left)} left" if epoch < self._total else "",
        )
        self._logged_epoch, self._logged_at, self._pending = epoch, now, None

    def close(self, *, completed: bool = True) -> None:
        """Close the bar; in a log, the last epoch's line when it was not logged yet (``completed``: the loop ended
        normally, not by an error or an interrupt)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if completed and self._pending is not None:
            self._log(*self._pending, time.monotonic())
        self._pending = None

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close(completed=kind is None)


def _duration(seconds: float) -> str:
    """``0.42 s``, ``12 s``, ``4 min``, ``2.5 h``."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
