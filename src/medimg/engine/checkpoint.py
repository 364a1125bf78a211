"""Atomic checkpoint files: a crash mid-write never leaves a truncated checkpoint behind."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from medimg.errors import RunFolderError
from medimg.fileio import atomic_write_bytes


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` with ``torch.save`` and move it into place atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors and plain Python values only).

    Raises:
        RunFolderError: the file is missing or unreadable.
    """
    if not path.is_file():
        raise RunFolderError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt files
        raise RunFolderError(f"checkpoint {path} is unreadable ({error}); delete it to start over") from error
    if not isinstance(state, dict):
        raise RunFolderError(f"checkpoint {path} does not hold a medimg checkpoint")
    return state


def copy_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A real copy of a module's weights (not references to the live, still-training tensors)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
