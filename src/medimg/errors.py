"""The medimg exception hierarchy.

Every error a user can cause derives from :class:`MedimgError`. Messages say what failed, which file, case or
value, and how to fix it; the CLI prints them without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

#: why a one-channel input is refused by a model of several channels (MR modalities, nnU-Net channel files)
MULTI_CHANNEL_HINT = (
    "; a model of several channels (modalities) takes them together: give the first channel's file with the "
    "others beside it, named as in training (nnU-Net's <case>_0000, _0001...; BraTS's <case>_flair, _t1...)"
)


class MedimgError(Exception):
    """Base class of every error medimg raises on purpose."""


class DatasetError(MedimgError):
    """A dataset cannot be found, read or used as asked (empty folder, one class, missing files...)."""


class OtherTaskDataError(DatasetError):
    """The data is another task's (a folder of image/mask pairs read for classification...).

    Attributes:
        found_task: the task whose data it is (``"segment"``...).
        found: what was found, in words (the layout's description).
    """

    def __init__(self, message: str, *, found_task: str, found: str) -> None:
        super().__init__(message)
        self.found_task = found_task
        self.found = found


def wrong_dimensions(name: str, image_dims: int, model_dims: int, input_size: Sequence[int]) -> DatasetError:
    """The error for an image of ``image_dims`` spatial dimensions given to a model of ``model_dims``, with what to
    give instead (a volume or a multi-page file to a 2D model; a 2D image to a 3D one)."""
    shape = f"(C, {', '.join(map(str, input_size))})"
    fix = (
        ": it is a volume or a multi-page file (TIFF pages, frames); a 2D model takes one slice or page per file"
        if image_dims > model_dims
        else ": a 3D model takes volumes (a NIfTI file, a folder of DICOM slices)"
    )
    return DatasetError(
        f"{name or 'image'} is {image_dims}D but the model expects {model_dims}D images of shape {shape}{fix}"
    )


class ImageReadError(DatasetError):
    """One image file cannot be read (corrupt, truncated, unsupported format)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


class ImageTooLargeError(ImageReadError):
    """An image is larger than a reading limit (pixels, or memory: see :mod:`medimg.io.limits`); a service
    answers it with 413."""


class OutOfDomainError(ImageReadError):
    """An input lies outside the model's training domain and strict mode refuses it (see
    :mod:`medimg.planning.domain`)."""

    def __init__(self, path: object, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__(
            path,
            "outside the model's training domain (refused by --strict): "
            + "; ".join(self.reasons)
            + ". Convert it to what the model was trained on, or drop --strict to predict with a warning",
        )


class ConfigError(MedimgError):
    """An option, plan field or name is invalid."""


class NotFittedError(MedimgError):
    """A model is used for prediction or evaluation before it was trained or loaded."""


class RunFolderError(MedimgError):
    """A run folder (model bundle) is missing, incomplete or was written by an incompatible version."""


class ExportError(MedimgError):
    """A model cannot be exported, or the exported model does not match PyTorch."""


class MissingDependencyError(MedimgError):
    """An optional dependency is not installed; the message gives the exact ``pip install`` command."""

    def __init__(self, package: str, extra: str | None = None) -> None:
        hint = f"pip install 'medimg[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"this feature needs the optional package '{package}': {hint}")


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return a ``" Did you mean ...?"`` suffix naming the closest choices, or an empty string.

    Example:
        >>> did_you_mean("resnet19", ["resnet18", "resnet34"])
        " Did you mean 'resnet18'?"
    """
    choices = list(choices)
    close = difflib.get_close_matches(value.lower(), [c.lower() for c in choices], n=3, cutoff=0.5)
    if not close:
        return ""
    originals = [next(c for c in choices if c.lower() == m) for m in close]
    return " Did you mean " + " or ".join(repr(c) for c in originals) + "?"
