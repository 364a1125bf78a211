"""Images whose channels lie in separate files, named like nnU-Net's raw data: ``<case>_0000.nii.gz`` (channel 0),
``<case>_0001.nii.gz`` (channel 1), ... in one folder (MSD tasks converted by nnU-Net: prostate T2 + ADC, brain
tumour FLAIR/T1/T1ce/T2).

:func:`channel_files` names the files of one nnU-Net case from its first, :func:`stack_channels` stacks the images
read from them into one multi-channel image (on one voxel grid: a channel file stored in another voxel orientation
is flipped/permuted onto the first's, one of another size or spacing resampled onto it, one moved elsewhere
refused), so training (``SegmentationDataset.read``) reads such a case as one image; BraTS's modality files
(``<case>_flair``, ``_t1``, ``_t1ce``, ``_t2`` beside ``<case>_seg``) and HECKTOR's (``<case>__CT``, ``__PT``
for ``labelsTr/<case>``) too. :func:`channel_suffixes` records what tells the files apart, so prediction
(``InputReader.read`` for a multi-channel model) reads an input named like the first channel with the others
(:func:`files_with_suffixes`).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from medimg.errors import ImageReadError
from medimg.io.formats import file_suffix
from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

#: the characters that separate a case's name from its channel's in a file name
SEPARATORS = "-_. "
#: ``<case>_<4-digit channel>`` (the name without its suffix)
CHANNEL_NAME = re.compile(r"^(.+)_(\d{4})$")


def channel_of(path: Path) -> tuple[str, int] | None:
    """``(case, channel)`` for a file named ``<case>_<NNNN>.<suffix>``, else ``None``."""
    suffix = file_suffix(path)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    match = CHANNEL_NAME.match(stem)
    return (match.group(1), int(match.group(2))) if match else None


def channel_files(first: Path) -> list[Path]:
    """The files of ``first``'s case in channel order: ``first`` (``<case>_0000``) and the consecutive
    ``<case>_0001``, ``<case>_0002``... beside it with the same suffix; ``[first]`` for any other name."""
    found = channel_of(first)
    if found is None or found[1] != 0:
        return [first]
    case, suffix = found[0], file_suffix(first)
    files = [first]
    while (following := first.with_name(f"{case}_{len(files):04d}{suffix}")).is_file():
        files.append(following)
    return files


def channel_suffixes(paths: Sequence[Path]) -> list[str]:
    """What tells one case's channel files apart: each name after the longest common prefix that ends at a
    separator (``BraTS2021_00000_flair.nii.gz``, ``..._t1.nii.gz`` -> ``flair.nii.gz``, ``t1.nii.gz``;
    ``case_0000.png``, ``case_0001.png`` -> ``0000.png``, ``0001.png``). A run records them, so an input named
    like the first channel is read with the files of the others (:func:`files_with_suffixes`)."""
    names = [p.name for p in paths]
    prefix = os.path.commonprefix(names)  # noqa: RUF071 (file names, by character)
    cut = max(prefix.rfind(separator) for separator in "-_. ") + 1
    return [name[cut:] for name in names]


def files_with_suffixes(first: Path, suffixes: Sequence[str]) -> list[Path]:
    """``first`` and its sibling channel files, when ``first``'s name ends with ``suffixes[0]`` (after a name of
    its own, or the whole name when the channels are named: WMH's ``pre/FLAIR.nii.gz`` beside ``pre/T1.nii.gz``) and a
    file with each further suffix lies beside it; else ``[]``. Numbered channels need a name before them: a folder of
    ``0000.png``, ``0001.png``... holds images, not one image's channels."""
    if len(suffixes) < 2 or not first.name.endswith(suffixes[0]):
        return []
    if len(first.name) == len(suffixes[0]) and names_of_suffixes(suffixes) is None:
        return []
    stem = first.name[: len(first.name) - len(suffixes[0])]
    files = [first, *(first.with_name(stem + suffix) for suffix in suffixes[1:])]
    return files if all(f.is_file() for f in files[1:]) else []


def channel_groups(files: Sequence[Path], suffixes: Sequence[str]) -> dict[Path, list[Path]]:
    """The files among ``files`` named like a first channel (``suffixes[0]``) whose sibling channel files all lie
    beside them, each with its further channel files (:func:`files_with_suffixes`)."""
    groups = {first: files_with_suffixes(first, suffixes) for first in files}
    return {first: group[1:] for first, group in groups.items() if group}


#: The names one MR sequence (or other channel) goes by in public sets, by the name medimg compares them under:
#: BraTS 2020/2021 (``flair``, ``t1``, ``t1ce``, ``t2``), BraTS 2023 (``t2f``, ``t1n``, ``t1c``, ``t2w``), MSD Task01
#: (``FLAIR``, ``T1w``, ``t1gd``, ``T2w``), nnU-Net's conversions (``T1``, ``T1ce``...), CrossMoDA (``ceT1``,
#: ``hrT2``). Names are compared lower-case without separators, so ``T1-CE`` is ``t1ce``.
CHANNEL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "flair": ("flair", "t2f", "t2flair", "flairt2"),
    "t1": ("t1", "t1n", "t1w", "t1native", "t1pre", "t1precontrast"),
    "t1ce": ("t1ce", "t1c", "t1gd", "t1gad", "t1post", "t1wce", "t1contrast", "t1postcontrast", "t1wgd", "cet1"),
    "t2": ("t2", "t2w", "hrt2"),
    "adc": ("adc",),
    "dwi": ("dwi", "dw", "trace"),
    "pd": ("pd", "pdw"),
    "pet": ("pet", "pt"),
    "ct": ("ct", "cta", "ncct", "cect"),
}
_SYNONYM_OF = {alias: name for name, aliases in CHANNEL_SYNONYMS.items() for alias in aliases}


def channel_key(name: str) -> str:
    """The name ``name`` is compared under: lower-case, letters and digits only, a known synonym replaced by its
    sequence's name (:data:`CHANNEL_SYNONYMS`: ``T2F`` -> ``flair``, ``t1gd`` -> ``t1ce``)."""
    plain = re.sub(r"[^a-z0-9]", "", name.lower())
    return _SYNONYM_OF.get(plain, plain)


def names_of_suffixes(suffixes: Sequence[str] | None) -> list[str] | None:
    """The channel names a case's file endings give (``flair.nii.gz``, ``t1.nii.gz`` -> ``flair``, ``t1``); ``None``
    for numbered endings (nnU-Net's ``0000.nii.gz``: an index, no name) or none."""
    if not suffixes or len(suffixes) < 2:
        return None
    names = [ending[: len(ending) - len(file_suffix(ending))] if file_suffix(ending) else ending for ending in suffixes]
    if any(not name or name.isdigit() for name in names):
        return None
    return names


def channel_order(trained: Sequence[str], given: Sequence[str]) -> list[int] | None:
    """Where each of the ``trained`` channel names lies among the ``given`` ones (``given[order[i]]`` is channel
    ``i`` for the model), compared by :func:`channel_key`; ``None`` when they are not the same names (a name missing
    or another one). Names given to several channels (nnU-Net's ``{"0": "MRI", "1": "MRI"}``, which names how each
    is normalised) cannot say which is which: the same names keep the given order."""
    wanted, found = [channel_key(n) for n in trained], [channel_key(n) for n in given]
    if sorted(wanted) != sorted(found):
        return None
    if wanted == found or len(set(wanted)) != len(wanted):
        return list(range(len(wanted)))
    return [found.index(key) for key in wanted]


def split_channel_name(path: Path) -> tuple[str, str] | None:
    """``(case, channel)`` of a file named ``<case><separator><channel>.<suffix>`` (``BraTS-GLI-00001-000-t1c.nii.gz``
    -> ``BraTS-GLI-00001-000``, ``t1c``), split at its last separator; ``None`` without one."""
    suffix = file_suffix(path)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    cut = max(stem.rfind(separator) for separator in "-_. ")
    return (stem[:cut], stem[cut + 1 :]) if 0 < cut < len(stem) - 1 else None


def case_name(first: Path, suffix: str) -> str:
    """The case a channel file belongs to: its name without the channel ending ``suffix`` and the separator before it
    (``BRATS_000_0000.nii.gz``, ``0000.nii.gz`` -> ``BRATS_000``)."""
    stem = first.name[: len(first.name) - len(suffix)] if first.name.endswith(suffix) else first.name
    return stem.rstrip("-_. ") or stem


@dataclass(frozen=True)
class CaseFiles:
    """The channel files of one case, as a multi-channel model reads them.

    Attributes:
        case: the case's name (the file names without their channel ending).
        files: each channel's file, ``None`` where it is missing; in the model's order when ``by_name``, else in
            the order of the model's channel endings (numbered endings: the data's own channel order).
        expected: each channel's file name as looked for (for messages).
        by_name: found by the channels' names (:func:`channel_key`) rather than by the model's file endings.
    """

    case: str
    files: tuple[Path | None, ...]
    expected: tuple[str, ...]
    by_name: bool = False

    @property
    def missing(self) -> list[str]:
        """The file names of the missing channels."""
        return [name for name, file in zip(self.expected, self.files, strict=True) if file is None]

    @property
    def first(self) -> Path:
        """The file that stands for the case among the inputs: its first channel file present."""
        return next(file for file in self.files if file is not None)


def find_case_files(path: Path, suffixes: Sequence[str] | None, names: Sequence[str] | None) -> CaseFiles | None:
    """The case ``path`` is a channel file of, for a model trained on cases of several channel files:

    1. ``path`` ends with one of the model's channel endings ``suffixes`` after a separator (``BRATS_005_0002.nii.gz``
       for ``0000.nii.gz``, ``0001.nii.gz``...), or is named by a channel alone (WMH's ``pre/FLAIR.nii.gz`` for
       ``FLAIR.nii.gz``, ``T1.nii.gz``; the case is its folder): the files with the other endings beside it;
    2. else, the model's channels having ``names``, ``path`` is named ``<case><separator><channel>`` with a channel
       name among them (:func:`channel_key`: BraTS 2023's ``<case>-t2f.nii.gz`` for a model of ``flair``, ``t1``...):
       the files beside it named for the other channels, in the model's order.

    ``None`` when ``path`` is neither (or the model has one channel).
    """
    if suffixes and len(suffixes) >= 2:
        named = names_of_suffixes(suffixes) is not None  # a file named by its channel alone: WMH's pre/FLAIR.nii.gz
        ending = max(
            (
                s
                for s in suffixes
                if (path.name.endswith(s) and len(path.name) > len(s) and path.name[-len(s) - 1] in SEPARATORS)
                or (named and path.name == s)
            ),
            key=len,
            default=None,
        )
        if ending is not None:
            stem = path.name[: len(path.name) - len(ending)]
            expected = tuple(stem + s for s in suffixes)
            files = tuple(path.with_name(name) if path.with_name(name).is_file() else None for name in expected)
            return CaseFiles(case_name(path, ending) if stem else path.parent.name, files, expected)
    if not names or len(names) < 2:
        return None
    split = split_channel_name(path)
    keys = [channel_key(n) for n in names]
    if split is None or channel_key(split[1]) not in keys:
        return None
    case, _ = split
    suffix = file_suffix(path)
    found: dict[str, Path] = {}
    for sibling in sorted(path.parent.glob(glob.escape(case) + "?*")):
        parts = split_channel_name(sibling)
        if parts is not None and parts[0] == case and file_suffix(sibling) == suffix and sibling.is_file():
            found.setdefault(channel_key(parts[1]), sibling)
    sep = path.name[len(case)]
    expected = tuple(f"{case}{sep}{name}{suffix}" for name in names)
    return CaseFiles(case, tuple(found.get(key) for key in keys), expected, by_name=True)


#: the channel files of one case lie on one grid when their voxel spacings differ by at most this share (header
#: rounding)...
SPACING_TOLERANCE = 1e-3
#: ... their origins by at most this many of the first channel's voxels...
ORIGIN_TOLERANCE_VOXELS = 0.5
#: ... and their axes by at most this angle (degrees)
DIRECTION_TOLERANCE_DEG = 0.1


def reoriented_affine(affine: np.ndarray, target: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``affine`` of an array of spatial ``shape`` once its axes are flipped/permuted into ``target``'s orientation
    (:func:`medimg.io.orientation.reorient_like`), as nibabel's ``as_reoriented`` gives it."""
    from nibabel.orientations import inv_ornt_aff, io_orientation, ornt_transform

    transform = ornt_transform(io_orientation(affine), io_orientation(target))
    return np.asarray(affine @ inv_ornt_aff(transform, tuple(shape)), dtype=np.float64)


def grid_difference(affine: np.ndarray, reference: np.ndarray) -> str | None:
    """How the voxel grid of ``affine`` differs from ``reference``'s (both 4x4, voxel -> world mm, in one axis
    orientation): its spacing (beyond :data:`SPACING_TOLERANCE`), axis directions (beyond
    :data:`DIRECTION_TOLERANCE_DEG`) or origin (beyond :data:`ORIGIN_TOLERANCE_VOXELS`), in words; ``None`` for the
    same grid."""
    axes, own_axes = np.asarray(affine, np.float64)[:3, :3], np.asarray(reference, np.float64)[:3, :3]
    spacing, own_spacing = np.linalg.norm(axes, axis=0), np.linalg.norm(own_axes, axis=0)
    if np.any(spacing <= 0) or np.any(own_spacing <= 0):
        return None
    if np.any(np.abs(spacing - own_spacing) > SPACING_TOLERANCE * own_spacing):
        return (
            f"voxel spacing {'x'.join(f'{v:.4g}' for v in spacing)} mm against "
            f"{'x'.join(f'{v:.4g}' for v in own_spacing)} mm"
        )
    cosines = np.clip(np.sum((axes / spacing) * (own_axes / own_spacing), axis=0), -1.0, 1.0)
    angle = float(np.degrees(np.arccos(cosines)).max())
    if angle > DIRECTION_TOLERANCE_DEG:
        return f"its axes are rotated by {angle:.3g} degrees against the first channel's"
    shift = np.linalg.lstsq(own_axes, np.asarray(affine)[:3, 3] - np.asarray(reference)[:3, 3], rcond=None)[0]
    if np.any(np.abs(shift) > ORIGIN_TOLERANCE_VOXELS):
        distance = float(np.linalg.norm(np.asarray(affine)[:3, 3] - np.asarray(reference)[:3, 3]))
        return (
            f"origin {tuple(round(float(v), 2) for v in np.asarray(affine)[:3, 3])} against "
            f"{tuple(round(float(v), 2) for v in np.asarray(reference)[:3, 3])} ({distance:.3g} mm, "
            f"{float(np.abs(shift).max()):.3g} voxels away)"
        )
    return None


#: folders whose reoriented channel files were said (:func:`stack_channels`): once per folder
_reoriented_folders: set[str] = set()
#: ... and those whose resampled channel files were
_resampled_folders: set[str] = set()
#: a channel sampled otherwise than its case's first is refused when more of the first's grid than this share lies
#: outside its field of view (not co-registered)
MAX_OUTSIDE = 0.5


def _spacing(affine: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.norm(np.asarray(affine, np.float64)[:3, :3], axis=0))


def _sampled_otherwise(image: ImageData, first: ImageData) -> bool:
    """Whether ``image`` samples the scanner's space otherwise than ``first`` (both volumes with a geometry): another
    size or voxel spacing (a PET of 4 mm voxels beside its CT of 1 mm), as against one sampling whose header places
    it elsewhere (an origin 20 mm away, which is refused: not co-registered)."""
    assert image.affine is not None and first.affine is not None
    if image.array.ndim != 4 or sorted(image.array.shape[1:]) != sorted(first.array.shape[1:]):
        return image.array.ndim == 4
    spacing, own = np.sort(_spacing(image.affine)), np.sort(_spacing(first.affine))
    return bool(np.any(np.abs(spacing - own) > SPACING_TOLERANCE * own))


def _resampled(image: ImageData, first: ImageData) -> np.ndarray:
    """The voxels of ``image`` resampled onto ``first``'s grid through their world coordinates (said once per
    folder).

    Raises:
        ImageReadError: more than :data:`MAX_OUTSIDE` of ``first``'s grid lies outside ``image``'s field of view.
    """
    from medimg.io.world_resample import resample_onto

    assert image.affine is not None and first.affine is not None
    array, outside = resample_onto(image.array, image.affine, first.array.shape[1:], first.affine)

    def grid(of: ImageData) -> str:
        assert of.affine is not None
        size = "x".join(str(n) for n in of.array.shape[1:])
        return f"{size} voxels of {'x'.join(f'{v:.3g}' for v in _spacing(of.affine))} mm"

    if outside > MAX_OUTSIDE:
        raise ImageReadError(
            image.source,
            f"this channel file ({grid(image)}) covers only {1 - outside:.0%} of the field of view of its case's "
            f"first channel {first.source} ({grid(first)}): the channels are not co-registered. Check both "
            "headers' origins, or leave the case out with --exclude",
        )
    folder = str(Path(image.source).parent)
    if folder not in _resampled_folders:
        _resampled_folders.add(folder)
        logger.warning(
            "%s (%s) is sampled otherwise than its case's first channel %s (%s): resampled onto the first channel's "
            "grid (linear, through the headers' world coordinates) before the channels are stacked; other such "
            "channel files in %s are read the same way, not named",
            image.source,
            grid(image),
            first.source,
            grid(first),
            folder,
        )
    return array


def _on_first_grid(image: ImageData, first: ImageData) -> np.ndarray:
    """The voxels of ``image`` (a further channel file of ``first``'s case) on ``first``'s grid: resampled when it
    samples the space otherwise (another size or spacing, :func:`_resampled`), flipped/permuted when stored in
    another voxel orientation (each said once per folder), refused when its grid is the first's moved elsewhere.

    Raises:
        ImageReadError: another size, or (both files with a geometry) another spacing, direction or origin.
    """
    from medimg.io.orientation import has_geometry, reorient_like

    array, affine = image.array, image.affine
    located = has_geometry(affine) and has_geometry(first.affine)
    if located and _sampled_otherwise(image, first):  # a PET beside its CT
        return _resampled(image, first)
    if located:
        assert affine is not None and first.affine is not None
        moved = reorient_like(array, affine, first.affine)
        if moved is not None:
            from nibabel.orientations import aff2axcodes

            affine = reoriented_affine(affine, first.affine, array.shape[1:])
            if str(Path(image.source).parent) not in _reoriented_folders:
                _reoriented_folders.add(str(Path(image.source).parent))
                logger.warning(
                    "%s is stored in another voxel orientation (%s) than its case's first channel %s (%s): its axes "
                    "are flipped/permuted onto the first channel's grid before the channels are stacked; other "
                    "such channel files in %s are read the same way, not named",
                    image.source,
                    "".join(aff2axcodes(image.affine)),
                    first.source,
                    "".join(aff2axcodes(first.affine)),
                    Path(image.source).parent,
                )
            array = moved
    if array.shape[1:] != first.array.shape[1:]:
        raise ImageReadError(
            image.source,
            f"this channel file has size {tuple(array.shape[1:])} but the case's first channel "
            f"{first.source} has size {tuple(first.array.shape[1:])}: every channel of a case must have one size",
        )
    if located:
        assert affine is not None and first.affine is not None
        difference = grid_difference(affine, first.affine)
        if difference is not None:
            raise ImageReadError(
                image.source,
                f"this channel file is not on the voxel grid of its case's first channel {first.source}: "
                f"{difference}. The channels of a case are stacked voxel by voxel, so they must be co-registered: "
                "resample it onto the first channel's grid (e.g. SimpleITK's Resample, or nnU-Net-style "
                "preprocessing), or leave the case out with --exclude",
            )
    return array


def stack_channels(images: Sequence[ImageData]) -> ImageData:
    """One image with the channels of ``images`` in order (spacing, affine and source of the first).

    Each further image is put on the first's grid: a volume of another size or voxel spacing (HECKTOR's PET of 4 mm
    voxels beside its CT) is resampled onto it through the headers' world coordinates (linear; refused when it
    covers less than half the first's field of view); one stored in another voxel orientation (a T1 exported LPS
    beside an RAS FLAIR) has its axes flipped/permuted to the first's
    (:func:`medimg.io.orientation.reorient_like`), as a mask is onto its image (each a warning once per folder);
    then its size and (both with a geometry) its spacing, axis directions and origin must be the first's
    (:func:`grid_difference`): one grid moved elsewhere is not co-registered and refused, as nnU-Net's dataset
    check refuses it.

    Raises:
        ImageReadError: an image on another grid (naming the file, the case's first file and how they differ).
    """
    first = images[0]
    arrays = [first.array, *(_on_first_grid(image, first) for image in images[1:])]
    if len(images) == 1:
        return first
    return replace(first, array=np.concatenate(arrays, axis=0))
