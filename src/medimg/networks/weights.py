"""Load local weights into a network: checkpoints or bare state_dicts, DDP prefixes, mismatched heads.

Nothing here downloads anything: ``path`` must be a local file written with ``torch.save`` (or a ``.safetensors``
file). Keys are matched by name after stripping wrapper prefixes; a file saved from another wrapper (torchvision's
or timm's ``conv1.weight`` for medimg's ``backbone.conv1.weight``, Lightning's ``model.`` prefix) is matched by
adding or removing one leading name, and torchvision's DenseNet layers by MONAI's names for them. A first
convolution with another number of input channels (ImageNet RGB weights for grayscale images) is summed (or
spread) over its channels, as timm does.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import Callable, Mapping
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

HEAD_NAMES = ("fc", "head", "classifier", "last_linear")
"""First names of another library's classifier head (torchvision, timm): unused file keys under them are the file's
own head, which a new task replaces."""


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
        adapted: model keys loaded after summing or spreading the file's input channels (first convolution).
    """

    path: Path
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every model tensor was loaded and nothing in the file was left over."""
        return not (self.skipped or self.missing or self.unexpected)


def head_prefix(model: nn.Module) -> str | None:
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


#: the least share of the model's weights (elements, the head and BatchNorm's step counters left out) a weights file
#: must fill: a pretrained backbone under a new head (or a new stem) fills nearly all of them
MIN_LOADED_SHARE = 0.5


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


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _is_safetensors(head: bytes) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON object."""
    return len(head) > 9 and head[8:9] == b"{" and 0 < struct.unpack("<Q", head[:8])[0] < 100_000_000


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (read here: the format is a JSON header and raw little-endian data)."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    body = memoryview(data)[8 + size :]
    out: dict[str, torch.Tensor] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name} has the unsupported dtype {entry['dtype']}")
        start, end = entry["data_offsets"]
        if end > len(body) or start > end:
            raise ValueError("the file is shorter than its header says (truncated)")
        raw = bytearray(body[start:end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = flat.reshape(entry["shape"]).clone()
    return out


#: Python objects a training script's checkpoint often holds beside its tensors (a NumPy metric, the argparse
#: arguments): plain data, unpickled without running code from the file
HARMLESS_GLOBALS = (
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.ndarray",
    "numpy.dtype",
    "argparse.Namespace",
)


def _torch_load(path: Path) -> object:
    """``torch.load(weights_only=True)``, also for a checkpoint holding NumPy values or argparse arguments beside its
    tensors (``{"state_dict": ..., "best_acc": np.float64(0.9), "args": Namespace(...)}``)."""
    import importlib
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        if not names or not all(n in HARMLESS_GLOBALS or n.startswith("numpy.dtypes.") for n in names):
            raise
        allowed = []
        for name in names:
            module, _, attribute = name.rpartition(".")
            allowed.append(getattr(importlib.import_module(module), attribute))
        if "numpy.dtype" in names:  # a dtype is rebuilt as its class (numpy.dtypes.Float64DType)
            import numpy as np

            allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)


def _unreadable_reason(path: Path, exc: Exception) -> str:
    """What is wrong with a file ``torch.load`` refused, and what to do, in one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    unsupported = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if unsupported:
        return (
            f"weights file {path} holds pickled Python objects ({unsupported.group(1)}), e.g. a whole model saved "
            "with torch.save(model): medimg reads tensors only and runs no code from files; save its weights with "
            "torch.save(model.state_dict(), 'weights.pt') and give that file"
        )
    if "Weights only load failed" in text:
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        return (
            f"weights file {path} holds Python objects besides tensors"
            f"{f' ({detail.group(1).strip()})' if detail else ''}: medimg reads tensors only and runs no code from "
            "files; save its weights with torch.save(model.state_dict(), 'weights.pt') and give that file"
        )
    if path.stat().st_size == 0:
        return f"weights file {path} is empty; copy or save it again"
    if "central directory" in text or "zip archive" in text or isinstance(exc, EOFError):
        return f"weights file {path} is truncated or corrupt (an incomplete torch.save archive); copy or save it again"
    first = text.strip().splitlines()[0] if text.strip() else ""
    reason = f" ({first})" if len(first) > 12 and not isinstance(exc, KeyError) else ""  # pickle's "101" says nothing
    return (
        f"cannot read weights file {path}{reason}: it is not a PyTorch weights file; expected a state_dict or "
        "checkpoint saved with torch.save (or a .safetensors file)"
    )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a ``torch.save`` file (bare state_dict or checkpoint dict) or a ``.safetensors`` file,
    on the CPU.

    Args:
        path: local file.

    Returns:
        ``{key: tensor}`` with ``module.`` / ``_orig_mod.`` prefixes stripped.

    Raises:
        ConfigError: the file is missing, unreadable, not a PyTorch file, or holds no tensors.
    """
    path = weights_file(path)
    with path.open("rb") as handle:
        head = handle.read(16)
    obj: object
    try:
        obj = _read_safetensors(path) if _is_safetensors(head) else _torch_load(path)
    except Exception as exc:
        raise ConfigError(_unreadable_reason(path, exc)) from exc
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


def _first_names(keys: list[str]) -> list[str]:
    """The leading ``name.`` of dotted keys, most frequent first."""
    counts: dict[str, int] = {}
    for key in keys:
        if "." in key:
            first = key.split(".", 1)[0] + "."
            counts[first] = counts.get(first, 0) + 1
    return sorted(counts, key=lambda name: -counts[name])


def _renamed(state: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with one leading name removed from and/or added to its keys, whichever fills the most of ``own``
    (same shape); ``state`` itself on a tie. Matches torchvision's ``conv1.weight`` to ``backbone.conv1.weight``
    and Lightning's ``model.backbone.conv1.weight`` to ``backbone.conv1.weight``."""

    def rename(key: str, strip: str, add: str) -> str:
        return add + key[len(strip) :] if key.startswith(strip) else key

    def fits(strip: str, add: str) -> int:
        total = 0
        for key, tensor in state.items():
            target = own.get(rename(key, strip, add))
            if target is not None and target.shape == tensor.shape:
                total += 1
        return total

    best, best_fits = ("", ""), fits("", "")
    for strip in ["", *_first_names(list(state))[:4]]:
        for add in ["", *_first_names(list(own))[:4]]:
            count = fits(strip, add)
            if count > best_fits:
                best, best_fits = (strip, add), count
    if best == ("", ""):
        return state
    logger.debug("weights: file keys renamed %r -> %r (%d tensors fit)", best[0] or "<none>", best[1], best_fits)
    return {rename(key, *best): tensor for key, tensor in state.items()}


#: torchvision's DenseNet layer keys (``denselayer1.norm1.weight``); MONAI's, which medimg builds on, hold them
#: under ``layers.`` (``denselayer1.layers.norm1.weight``), the renaming MONAI applies to torchvision's weights itself
_TORCHVISION_DENSE_LAYER = re.compile(r"(denselayer\d+\.)((?:norm|relu|conv)\d+\.)")


def in_medimg_layout(state: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its keys renamed to the model's (see :func:`_renamed`), torchvision's DenseNet layers too; of an
    ensemble's ``model.pt`` (``members.K.``, a time-budget run) the first member, for a model of one network."""
    members = {key.split(".", 2)[1] for key in state if key.startswith("members.")}
    ensemble = members and all(key.startswith("members.") for key in state)
    if ensemble and not any(key.startswith("members.") for key in own):
        logger.info("weights: an ensemble of %d networks; starting from its first (members.0)", len(members))
        state = {key.removeprefix("members.0."): v for key, v in state.items() if key.startswith("members.0.")}
    renamed = _renamed(state, own)
    if not any(_TORCHVISION_DENSE_LAYER.search(key) for key in state):
        return renamed
    dense = _renamed({_TORCHVISION_DENSE_LAYER.sub(r"\1layers.\2", k): v for k, v in state.items()}, own)

    def fits(candidate: Mapping[str, torch.Tensor]) -> int:
        return sum(1 for k, v in candidate.items() if k in own and own[k].shape == v.shape)

    return dense if fits(dense) > fits(renamed) else renamed


def _adapt_channels(tensor: torch.Tensor, channels: int) -> torch.Tensor:
    """A first convolution's weight for ``channels`` inputs: summed over the file's channels for one (grayscale
    from RGB keeps each filter's response to a gray image), else repeated and scaled to keep the output's scale."""
    if channels == 1:
        return tensor.sum(dim=1, keepdim=True)
    repeats = -(-channels // tensor.shape[1])
    return tensor.repeat(1, repeats, *[1] * (tensor.dim() - 2))[:, :channels] * (tensor.shape[1] / channels)


def network_of_keys(keys: list[str]) -> str | None:
    """The medimg network a file's keys look like (torchvision's, timm's or medimg's layout), else ``None``."""
    text = "\n".join(keys)
    if "denseblock" in text:
        return "densenet121"
    if "_conv_stem" in text or "conv_stem" in text:
        return "efficientnet-b0"
    if re.search(r"(^|\.)layer1\.0\.conv1\.", text, re.MULTILINE):
        if re.search(r"(^|\.)layer1\.0\.conv3\.", text, re.MULTILINE):
            return "resnet50"
        return "resnet34" if re.search(r"(^|\.)layer3\.5\.", text, re.MULTILINE) else "resnet18"
    if "features.block1." in text:
        return "simple-cnn"
    if "features.conv1.0." in text:
        return "alexnet"
    return None


def _width_hint(pairs: list[tuple[torch.Size, torch.Size]], width: float | None) -> str:
    """``" ... --set width=W"`` when the file's layers are uniformly wider or narrower than the model's."""
    ratios = {round(f[0] / m[0], 3) for f, m in pairs if len(f) == len(m) and len(f) >= 3 and m[0] and f[1:2] != m[1:2]}
    if len(ratios) != 1:
        return ""
    ratio = ratios.pop()
    if ratio == 1.0:
        return ""
    wanted = f"--set width={width * ratio:g}" if width else "--set width=... (the width it was trained at)"
    return f"; its layers are {ratio:g}x as wide as this model's: give {wanted}"


def match_tensors(
    model: nn.Module, state: Mapping[str, torch.Tensor], path: Path
) -> tuple[LoadReport, dict[str, torch.Tensor]]:
    """Which tensors of ``state`` (in medimg's layout, :func:`in_medimg_layout`) fill ``model``: the same name and
    shape, or the first convolution with another number of input channels (summed or spread over them, as timm
    does). Returns the report of every key (``path``: the file, for it) and the tensors to load."""
    own = model.state_dict()
    head = head_prefix(model)
    first_conv = next((k for k, v in own.items() if v.dim() >= 3 and not (head and k.startswith(head))), None)
    report = LoadReport(path=path)
    to_load: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape == tensor.shape:
            to_load[key] = tensor
            report.loaded.append(key)
        elif (
            key == first_conv
            and tensor.dim() == own[key].dim()
            and own[key].shape[2:] == tensor.shape[2:]
            and (own[key].shape[0] == tensor.shape[0])
        ):
            to_load[key] = _adapt_channels(tensor, own[key].shape[1]).to(own[key].dtype)
            report.loaded.append(key)
            report.adapted.append(key)
        else:
            report.skipped.append(key)
    report.missing = [k for k in own if k not in state]
    return report, to_load


def loaded_share(model: nn.Module, loaded: list[str]) -> float:
    """The share of ``model``'s weights (elements; the head and BatchNorm's step counters left out) that the keys
    ``loaded`` hold: what :data:`MIN_LOADED_SHARE` is compared with."""
    own = model.state_dict()
    head = head_prefix(model)

    def weighed(keys: list[str]) -> int:
        return sum(
            own[k].numel()
            for k in keys
            if not (head is not None and k.startswith(head)) and not k.endswith("num_batches_tracked")
        )

    total = weighed(list(own))
    return weighed(loaded) / total if total else 0.0


def load_weights(model: nn.Module, path: str | Path, *, strict: bool = False, width: float | None = None) -> LoadReport:
    """Copy matching tensors from a local weights file into ``model`` (in place).

    Keys are matched by name after stripping DDP/compile prefixes, and after adding or removing one leading name
    when that matches more (torchvision/timm layouts under medimg's ``backbone.``, Lightning's ``model.``). Tensors
    whose shape differs are skipped — in particular the classifier head when the file was trained with another
    number of classes — and logged; a first convolution with another number of input channels is adapted.

    Args:
        model: the network to fill (typically from :func:`medimg.networks.create_network`).
        path: ``torch.save`` file holding a state_dict, or a dict with a ``"state_dict"``,
            ``"model_state_dict"`` or ``"model"`` entry (read with ``weights_only=True``), or a ``.safetensors``
            file.
        strict: also fail when any tensor other than the head is missing, unexpected or of another shape.
        width: the model's width multiplier, named in the advice when the file's layers have another width.

    Returns:
        A :class:`LoadReport` listing loaded, skipped, missing and unexpected keys.

    Raises:
        ConfigError: missing/corrupt file, less than half of the model's weights filled (another architecture or
            width), or (``strict``) a non-head mismatch.
    """
    path = weights_file(path)
    own = model.state_dict()
    state = in_medimg_layout(read_state_dict(path), own)
    report, to_load = match_tensors(model, state, path)
    head = head_prefix(model)

    def is_head(key: str) -> bool:
        return head is not None and key.startswith(head)

    share = loaded_share(model, report.loaded)
    if share < MIN_LOADED_SHARE:
        # none, a stray match, or BatchNorm counters alone: a "load" that trains from scratch
        sample = ", ".join(list(state)[:3])
        arch = getattr(model, "network_name", type(model).__name__)
        hint = _width_hint([(state[k].shape, own[k].shape) for k in report.skipped], width)
        other = network_of_keys(list(state))
        if not hint and other and other != arch:
            hint = f"; they look like {other}'s: give --network {other}, or weights of {arch}"
        raise ConfigError(
            f"{len(report.loaded)} of the {len(own)} tensors of the model {arch!r} match weights file {path} "
            f"({share:.0%} of its weights; file keys look like {sample}): it was saved from another architecture "
            f"or width{hint or '; give that network (--network) or weights of this one'}"
        )

    # the file's own classifier (torchvision's fc., timm's head.), perhaps under the added leading name: replaced
    file_head = [k for k in report.unexpected if any(part in HEAD_NAMES for part in k.split(".")[:-1][:2])]
    body_problems = [k for k in report.skipped + report.missing + report.unexpected if not is_head(k)]
    body_problems = [k for k in body_problems if k not in file_head]
    if strict and body_problems:
        raise ConfigError(
            f"weights file {path} does not match the model (strict=True): {len(body_problems)} key(s) "
            f"missing, unexpected or of another shape, e.g. {', '.join(body_problems[:5])}."
        )

    model.load_state_dict(to_load, strict=False)
    _report_load(report, model, state, to_load, is_head)
    return report


def _report_load(
    report: LoadReport,
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    to_load: Mapping[str, torch.Tensor],
    is_head: Callable[[str], bool],
) -> None:
    """Log what was loaded, adapted and left at random (once: by rank 0 when several processes train)."""
    from medimg.engine.distributed import process_rank

    own = model.state_dict()
    path = report.path
    info, warning = (logger.info, logger.warning) if process_rank() == 0 else (logger.debug, logger.debug)
    file_head = [k for k in report.unexpected if any(part in HEAD_NAMES for part in k.split(".")[:-1][:2])]
    for key in report.adapted:
        info(
            "weights %s: %s has %d input channel(s), the model %d: %s",
            path,
            key,
            state[key].shape[1],
            own[key].shape[1],
            "summed over them (as timm does for grayscale)" if own[key].shape[1] == 1 else "spread over them",
        )
    head_skipped = [k for k in report.skipped if is_head(k)]
    if head_skipped:
        info(
            "weights %s: classifier head has another shape (different number of classes); kept the new "
            "head, skipped keys: %s",
            path,
            ", ".join(head_skipped),
        )
    other_skipped = [k for k in report.skipped if not is_head(k)]
    if other_skipped:
        shapes = ", ".join(f"{k} {list(state[k].shape)} (model {list(own[k].shape)})" for k in other_skipped[:3])
        warning(
            "weights %s: %d tensor(s) of another shape start at random: %s%s",
            path,
            len(other_skipped),
            shapes,
            ", ..." if len(other_skipped) > 3 else "",
        )
    body_missing = [k for k in report.missing if not is_head(k)]
    unused = [k for k in report.unexpected if k not in file_head]
    if body_missing or unused:
        other = network_of_keys(list(state))
        arch = getattr(model, "network_name", None)
        warning(
            "weights %s: %d model key(s) not in the file (e.g. %s), %d file key(s) unused (e.g. %s)%s",
            path,
            len(body_missing),
            ", ".join(body_missing[:3]),
            len(unused),
            ", ".join(unused[:3]),
            f"; the file looks like {other}'s: give --network {other}" if other and arch and other != arch else "",
        )
    at_random = [k for k in own if k not in to_load and not k.endswith("num_batches_tracked")]
    info(
        "loaded %d/%d tensors from %s%s",
        len(report.loaded),
        len(own),
        path,
        f"; at random: {', '.join(at_random[:4])}{', ...' if len(at_random) > 4 else ''}" if at_random else "",
    )
