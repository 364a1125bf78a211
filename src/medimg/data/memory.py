"""How much image data a run may hold in memory, and how much an array holds.

The budget is ``MEDIMG_CASE_MEMORY_MB`` megabytes when set, else a quarter of the machine's memory. Within it, the
images read for planning stay in memory for training; beyond it they are read again when needed (classification,
segmentation) and segmentation's prepared cases are memory-mapped (:mod:`medimg.tasks.segment.store`).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from medimg.errors import ConfigError

MEMORY_ENV = "MEDIMG_CASE_MEMORY_MB"
FALLBACK_MEMORY_BYTES = 8 * 2**30
"""The machine's memory when the system does not say (a quarter of it is the budget)."""


def case_memory_budget() -> int:
    """Bytes of images a run may hold in memory (``MEDIMG_CASE_MEMORY_MB``, else a quarter of the machine's memory).

    Raises:
        ConfigError: ``MEDIMG_CASE_MEMORY_MB`` is not a non-negative number.
    """
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        try:
            megabytes = float(text)
        except ValueError:
            megabytes = -1.0
        if not megabytes >= 0:
            raise ConfigError(f"{MEMORY_ENV}={text!r} is not a number of megabytes (e.g. {MEMORY_ENV}=4000)")
        return int(megabytes * 2**20)
    return machine_memory() // 4


def machine_memory() -> int:
    """Bytes of memory the machine has (:data:`FALLBACK_MEMORY_BYTES` when the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX
        return FALLBACK_MEMORY_BYTES


def nbytes(array: np.ndarray | torch.Tensor) -> int:
    """Bytes an array or tensor holds."""
    if isinstance(array, torch.Tensor):
        return array.numel() * array.element_size()
    return int(array.nbytes)
