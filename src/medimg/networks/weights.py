"""Load local weights into a network: checkpoints or bare state_dicts, DDP prefixes, mismatched heads.

Nothing here downloads anything: ``path`` must be a local file written with ``torch.save``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from medimg.errors import ConfigError

logger = logging.getLogger(__name__)

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
"""Keys under which a checkpoint dict may hold the model's state_dict, tried in this order."""

WRAPPER_PREFIXES = ("module.", "_orig_mod.")
"""Prefixes added by (Distributed)DataParallel and ``torch.compile``; stripped before matching."""


@dataclass
class LoadReport:
    """What :func:`load_weights` did.

    Attributes:
        path: the file that was read.
        loaded: model keys whose tensors were copied from the file.
        skipped: keys present in both but with different shapes (e.g. the head when ``num_classes`` differs);
            the model keeps its own initialisation for them.
        missing: model keys absent from the file (they keep their initialisation).
        unexpected: file keys the model does not have (ignored).
    """

    path: Path
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every model tensor was loaded and nothing in the file was left over."""
        return not (self.skipped or self.missing or self.unexpected)


def _head_prefix(model: nn.Module) -> str | None:
    """Prefix of the classifier head's keys: ``model.head_name`` or else the last ``nn.Linear``."""
    name = getattr(model, "head_name", None)
    if isinstance(name, str):
        return name + "."
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return linear[-1] + "." if linear else None


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                changed = True
    return key


#: the least share of a model's tensors a weights file must fill (a pretrained backbone under a new head fills most)
MIN_LOADED_SHARE = 0.1


def weights_file(path: str | Path) -> Path:
    """The weights file ``path`` names: the file itself, or a run folder's ``model.pt``.

    Raises:
        ConfigError: nothing there, or a folder without ``model.pt``.
    """
    path = Path(path).expanduser()
    if path.is_dir() and (path / "model.pt").is_file():
        return path / "model.pt"
    if path.is_dir():
        raise ConfigError(f"weights {path} is a folder without model.pt: give a weights file (.pt) or a run folder")
    if not path.is_file():
        raise ConfigError(f"weights file {path} does not exist (or is not a file).")
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a ``torch.save`` file (bare state_dict or checkpoint dict), on the CPU.

    Args:
        path: local file.

    Returns:
        ``{key: tensor}`` with ``module.`` / ``_orig_mod.`` prefixes stripped.

    Raises:
        ConfigError: the file is missing, unreadable, not a PyTorch file, or holds no tensors.
    """
    path = weights_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot read weights file {path} ({reason}); expected a state_dict or checkpoint saved with "
            "torch.save holding tensors and plain containers only."
        ) from exc
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping):
        raise ConfigError(
            f"weights file {path} holds a {type(obj).__name__}, not a state_dict or a checkpoint dict "
            f"with one of the keys {', '.join(CHECKPOINT_KEYS)}."
        )
    state = {_strip_prefixes(str(k)): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise ConfigError(f"weights file {path} contains no tensors (expected a state_dict).")
    return state


def load_weights(model: nn.Module, path: str | Path, *, strict: bool = False) -> LoadReport:
    """Copy matching tensors from a local weights file into ``model`` (in place).

    Keys are matched by name after stripping DDP/compile prefixes. Tensors whose shape differs are skipped —
    in particular the classifier head when the file was trained with another number of classes — and logged.

    Args:
        model: the network to fill (typically from :func:`medimg.networks.create_network`).
        path: ``torch.save`` file holding a state_dict, or a dict with a ``"state_dict"``,
            ``"model_state_dict"`` or ``"model"`` entry. Read with ``weights_only=True``.
        strict: also fail when any tensor other than the head is missing, unexpected or of another shape.

    Returns:
        A :class:`LoadReport` listing loaded, skipped, missing and unexpected keys.

    Raises:
        ConfigError: missing/corrupt file, no tensor matched the model, or (``strict``) a non-head mismatch.
    """
    path = weights_file(path)
    state = read_state_dict(path)
    own = model.state_dict()
    head = _head_prefix(model)
    report = LoadReport(path=path)
    to_load: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != tensor.shape:
            report.skipped.append(key)
        else:
            to_load[key] = tensor
            report.loaded.append(key)
    report.missing = [k for k in own if k not in state]

    if len(report.loaded) < MIN_LOADED_SHARE * len(own):  # none, or a stray match (a 1/122 "load" trained from scratch)
        sample = ", ".join(list(state)[:3])
        arch = getattr(model, "network_name", type(model).__name__)
        raise ConfigError(
            f"{len(report.loaded)} of the {len(own)} tensors of the model {arch!r} match weights file {path} (file "
            f"keys look like {sample}): it was saved from another architecture or width; give that network "
            "(--network) or weights of this one"
        )

    def is_head(key: str) -> bool:
        return head is not None and key.startswith(head)

    body_problems = [k for k in report.skipped + report.missing + report.unexpected if not is_head(k)]
    if strict and body_problems:
        raise ConfigError(
            f"weights file {path} does not match the model (strict=True): {len(body_problems)} key(s) "
            f"missing, unexpected or of another shape, e.g. {', '.join(body_problems[:5])}."
        )

    model.load_state_dict(to_load, strict=False)
    if report.skipped:
        head_skipped = [k for k in report.skipped if is_head(k)]
        other_skipped = [k for k in report.skipped if not is_head(k)]
        if head_skipped:
            logger.info(
                "weights %s: classifier head has another shape (different number of classes); kept the new "
                "head, skipped keys: %s",
                path,
                ", ".join(head_skipped),
            )
        if other_skipped:
            logger.warning("weights %s: skipped keys with mismatched shapes: %s", path, ", ".join(other_skipped))
    body_missing = [k for k in report.missing if not is_head(k)]
    if body_missing or report.unexpected:
        logger.warning(
            "weights %s: %d model key(s) not in the file (e.g. %s), %d file key(s) unused (e.g. %s)",
            path,
            len(body_missing),
            ", ".join(body_missing[:3]),
            len(report.unexpected),
            ", ".join(report.unexpected[:3]),
        )
    logger.info("loaded %d/%d tensors from %s", len(report.loaded), len(own), path)
    return report
