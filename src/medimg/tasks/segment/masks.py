"""Predicted label maps, torch-free: post-processing, mask files and the per-file prediction record.

Shared by the PyTorch path (:mod:`medimg.tasks.segment.inference`, :mod:`medimg.tasks.segment.evaluate`) and the
ONNX Runtime predictor (:mod:`medimg.export.segment`). Importing it loads neither torch nor MONAI (nor pydantic):
numpy only, with scipy, Pillow and the NIfTI writer imported when first used.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medimg.errors import ConfigError
from medimg.io.formats import output_stem, unclaimed_path

SEGMENTATION_SUFFIX = ".seg.nrrd"
"""The masks predicted for NRRD volumes: 3D Slicer segmentations
(:func:`medimg.io.slicer_segments.write_segmentation`)."""
IGNORE = 255
"""Label value of ignored pixels (:data:`medimg.tasks.segment.labels.IGNORE`); written masks hold none."""

POSTPROCESSING = ("none", "largest_component", "remove_small")
"""Post-processing methods of a plan (``SegPlan.postprocessing``)."""

PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
)
"""Overlay colours of foreground classes 1, 2, ... (cycled); the background is never painted."""


def class_colour(index: int) -> tuple[int, int, int]:
    """Overlay colour of class ``index`` (black for the background)."""
    return (0, 0, 0) if index == 0 else PALETTE[(index - 1) % len(PALETTE)]


# ---------------------------------------------------------------------------------------- post-processing
def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of a boolean mask (full connectivity) and their sizes (background's set to 0)."""
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    labelled, count = ndimage.label(mask, structure=structure)
    sizes = np.bincount(labelled.ravel(), minlength=count + 1)
    sizes[0] = 0
    return labelled, sizes


def postprocess(labels: np.ndarray, method: str, num_classes: int, *, min_object_fraction: float = 0.1) -> np.ndarray:
    """Clean a predicted label map ``(*spatial)``.

    ``largest_component``: keep only the largest connected component of each foreground class (organs,
    single lesions). ``remove_small``: drop components smaller than ``min_object_fraction`` of that class's
    largest component (speckle). ``none``: unchanged. Removed voxels become background.
    """
    if method == "none":
        return labels
    out = labels.copy()
    for cls in range(1, num_classes):
        mask = labels == cls
        if not mask.any():
            continue
        labelled, sizes = _components(mask)
        if method == "largest_component":
            keep = labelled == int(sizes.argmax())
        else:
            keep = np.isin(labelled, np.nonzero(sizes >= min_object_fraction * sizes.max())[0])
        out[mask & ~keep] = 0
    return out


def predicted_labels(probabilities: np.ndarray, absent: Sequence[int] = ()) -> np.ndarray:
    """Each pixel's class ``(*spatial)`` uint8 from ``probabilities`` ``(K, *spatial)``: the most probable of the
    classes the training masks held; ``absent`` (the empty classes between non-contiguous label values, BraTS's 3:
    :func:`~medimg.tasks.segment.labels.unused_classes`) are never predicted (an undertrained network gave a few
    voxels of BraTS's nonexistent 3)."""
    if absent:
        probabilities = probabilities.copy()
        probabilities[list(absent)] = -1.0
    return np.asarray(probabilities.argmax(0)).astype(np.uint8)


# ------------------------------------------------------------------------------------------------- output
def mask_suffix(source: Path, *, volume: bool = False) -> str:
    """Output suffix for a mask of ``source``: NIfTI stays NIfTI, a TIFF stack's mask is a TIFF stack, an NRRD
    volume's (3D Slicer's format) is a Slicer segmentation ``.seg.nrrd`` naming its classes, another volume (a DICOM
    series or multi-frame file) and a MetaImage or 2D NRRD image become NIfTI (with the image's geometry), everything
    else PNG (lossless)."""
    medical = (".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr")
    if volume and source.suffix.lower() in (".tif", ".tiff"):
        return ".tif"
    if volume and source.suffix.lower() in (".nrrd", ".nhdr"):
        return SEGMENTATION_SUFFIX
    return ".nii.gz" if volume or source.name.lower().endswith(medical) else ".png"


def mask_path_for(
    source: str | Path,
    folder: Path,
    *,
    volume: bool = False,
    case: str | None = None,
    taken: set[Path] | None = None,
) -> Path:
    """``<folder>/<name>_mask.png|.nii.gz``: where the mask predicted for ``source`` is written (``volume``: a 3D
    label map, always NIfTI). ``case``: the name of a case read from several channel files (``meta["case_name"]``:
    ``BRATS_000`` for ``BRATS_000_0000.nii.gz`` + ``_0001``..., ``BraTS20_Training_004`` for its ``_flair``, ``_t1``...
    files) names the mask instead of ``source``'s, so a case's mask is ``BRATS_000_mask.nii.gz`` as a single file's is
    ``<name>_mask.nii.gz``. ``taken``: the masks of this call so far; a name among them gets ``<name>_2_mask...``
    (``x.png`` beside ``x.jpg``: the second replaced the first before), and the path is added to it.

    Raises:
        ConfigError: that file exists beside ``source`` (``Model.predict(..., out_dir=<the data folder>)``): it is
            the image's annotation, which the prediction would replace.
    """
    source = Path(source)
    suffix = mask_suffix(source, volume=volume)
    stem = source.name[: -len(suffix)] if source.name.lower().endswith(suffix) else output_stem(source)
    path = unclaimed_path(folder, case or stem, f"_mask{suffix}", taken)
    if path.exists() and path.resolve().parent == source.resolve().parent:
        raise ConfigError(
            f"{path} exists beside {source.name}: it is that image's annotation, and the predicted mask would replace "
            "it. Give an out_dir of its own (e.g. a new folder); the CLI writes into RUN/predictions"
        )
    return path


def label_values(encoding: Any) -> list[int] | None:
    """The value each class had in the training masks, ``values[class]``, where it is not the class index itself:
    gray-level coded classes (``0/128/255``, REFUGE's ``255/128/0``), binary ``0/255`` or ``0/v`` masks (the
    ``values`` kind of :class:`~medimg.tasks.segment.labels.LabelEncoding`); ``None`` for every other encoding (label
    maps whose values are the classes, colour tables, thresholded or mapped masks), whose masks are written as
    before. ``encoding``: a plan's ``label_encoding``, as the model or as its ``model_dump()``."""
    if encoding is None:
        return None
    get = encoding.get if isinstance(encoding, Mapping) else lambda key: getattr(encoding, key, None)
    values = get("values") or []
    if get("kind") != "values" or len(values) != int(get("num_classes") or 0):
        return None
    if not all(float(v) == int(v) and 0 <= v <= 255 for v in values) or len({int(v) for v in values}) != len(values):
        return None
    found = [int(v) for v in values]
    return None if found == list(range(len(found))) else found


def mask_pixels(
    labels: np.ndarray,
    *,
    colours: Mapping[int, Sequence[int]] | None = None,
    num_classes: int = 2,
    values: Sequence[int] | None = None,
) -> np.ndarray:
    """A label map as a mask file stores it: colour-coded with ``colours`` (``(*spatial, 3)``), with the training
    masks' own value of each class (``values``, :func:`label_values`: ``0/128/255`` gray levels stay so), binary as
    0/255, otherwise class indices; uint8."""
    labels = np.where(labels == IGNORE, 0, labels).astype(np.uint8)
    if colours:
        rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
        for cls, colour in colours.items():
            rgb[labels == int(cls)] = [int(c) for c in colour]
        return rgb
    if values is not None:
        return as_label_values(labels, values)
    if num_classes == 2:
        return (labels > 0).astype(np.uint8) * 255
    return labels


def as_label_values(labels: np.ndarray, values: Sequence[int] | None) -> np.ndarray:
    """Class indices ``labels`` as the training masks' values (``values[class]``; unchanged when ``None``), uint8."""
    labels = np.asarray(labels).astype(np.uint8)
    if values is None:
        return labels
    lookup = np.arange(256, dtype=np.uint8)
    lookup[: len(values)] = np.asarray(values, dtype=np.uint8)
    return lookup[labels]


def mask_png(
    labels: np.ndarray,
    *,
    colours: Mapping[int, Sequence[int]] | None = None,
    num_classes: int = 2,
    values: Sequence[int] | None = None,
) -> bytes:
    """A 2D label map as PNG (:func:`mask_pixels`)."""
    from PIL import Image

    if labels.ndim != 2:
        raise ValueError(f"PNG masks are 2D; got shape {labels.shape} (write volumes as .nii.gz)")
    image = Image.fromarray(mask_pixels(labels, colours=colours, num_classes=num_classes, values=values))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mask_tiff(
    labels: np.ndarray,
    *,
    colours: Mapping[int, Sequence[int]] | None = None,
    num_classes: int = 2,
    values: Sequence[int] | None = None,
) -> bytes:
    """A stack of 2D label maps ``(D, H, W)`` as a multi-page TIFF, a page per section (:func:`mask_pixels`)."""
    import tifffile

    buffer = io.BytesIO()
    pixels = mask_pixels(labels, colours=colours, num_classes=num_classes, values=values)
    tifffile.imwrite(buffer, pixels, photometric="rgb" if colours else "minisblack", compression="zlib")
    return buffer.getvalue()


def write_mask(
    labels: np.ndarray,
    path: Path,
    *,
    affine: np.ndarray | None = None,
    spacing_mm: Sequence[float] | None = None,
    colours: Mapping[int, Sequence[int]] | None = None,
    num_classes: int = 2,
    squeezed_z: bool = False,
    nifti_geometry: Mapping[str, Any] | None = None,
    values: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Write a label map in the input's geometry.

    ``values``: the training masks' value of each class (:func:`label_values`: gray levels ``0/128/255``, binary
    ``0/255``), written instead of the class index in every format, so the mask holds the values the training masks
    held; ``None``: as below.

    NIfTI (``.nii``/``.nii.gz``): uint8 class indices with the input's affine; a 2D label map of an input stored
    ``(X, Y, 1)`` (``squeezed_z``: its ``meta["squeezed_z"]``) keeps that shape, so ITK-based viewers place it on
    its slice; a NIfTI input's qform and sform with their codes (``nifti_geometry``: its
    ``meta["nifti_geometry"]``) are copied as the input has them (:func:`medimg.io.nifti.write_nifti`), so every
    viewer overlays the mask on the input. PNG (:func:`mask_png`) and TIFF
    stacks (:func:`mask_tiff`): binary masks as 0/255, colour-coded sets with their table's colours, other label
    maps as class indices. A 3D Slicer segmentation (``.seg.nrrd``): the label values with the input's affine, each
    foreground class a segment named by ``class_names`` (``class_<i>`` without) in its colour of ``colours``, else
    of :func:`class_colour`.
    """
    from medimg.fileio import atomic_write_bytes
    from medimg.io.image import ImageData

    if path.name.lower().endswith(SEGMENTATION_SUFFIX):
        from medimg.io.slicer_segments import write_segmentation

        written = as_label_values(np.where(labels == IGNORE, 0, labels), values)
        names = list(class_names or [])
        segments = [
            (
                names[index] if index < len(names) else f"class_{index}",
                index if values is None else int(values[index]),
                (colours or {}).get(index) or class_colour(index),
            )
            for index in range(1, num_classes)
        ]
        return write_segmentation(written, path, affine, segments)
    if path.name.lower().endswith((".nii", ".nii.gz")):
        from medimg.io.nifti import write_nifti

        clean = as_label_values(np.where(labels == IGNORE, 0, labels), values)
        meta: dict[str, Any] = {"squeezed_z": True} if squeezed_z and clean.ndim == 2 else {}
        if nifti_geometry is not None:
            meta["nifti_geometry"] = dict(nifti_geometry)
        image = ImageData(clean[None], spacing_mm=tuple(spacing_mm) if spacing_mm else None, affine=affine, meta=meta)
        return write_nifti(image, path, dtype=np.uint8)
    if path.suffix.lower() in (".tif", ".tiff"):
        return atomic_write_bytes(path, mask_tiff(labels, colours=colours, num_classes=num_classes, values=values))
    return atomic_write_bytes(path, mask_png(labels, colours=colours, num_classes=num_classes, values=values))


# --------------------------------------------------------------------------------------------- prediction
@dataclass
class SegmentationPrediction:
    """The model's answer for one file (the PyTorch engine and the ONNX predictor return the same records).

    Attributes:
        source: the input file.
        mask_path: where the predicted mask was written (input's format and geometry), or ``None``.
        class_names: class names, index-aligned.
        voxels: predicted voxels (pixels) per class.
        volume_mm3: predicted volume (area in mm^2 for 2D) per class, when the spacing is known.
        probabilities: mean softmax probability of each class over the image (sums to 1).
        region_probabilities: mean softmax probability of each class over the voxels predicted as that class (how
            sure the model is of the region it drew; ``None`` for a class it drew nowhere).
        mask: the label map ``(*spatial)`` uint8 in the file's geometry when kept in memory (not in
            :meth:`to_dict`).
        domain: ``{"in_domain": bool, "reasons": [...]}``: the input compared with the training domain (see
            :mod:`medimg.planning.domain`), ``None`` when not checked.
        series: the DICOM series of the input (see :mod:`medimg.tasks.series_prediction`): a volume's folder,
            ``series_uid`` and ``slices``, or a slice's place; ``None`` for a plain file.
    """

    source: str
    mask_path: str | None
    class_names: list[str]
    voxels: dict[str, int]
    volume_mm3: dict[str, float] | None
    probabilities: dict[str, float]
    mask: np.ndarray | None = field(default=None, repr=False)
    region_probabilities: dict[str, float | None] | None = None
    domain: dict[str, Any] | None = None
    series: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """The foreground class with the most predicted voxels, or the background class when none is found."""
        foreground = {k: v for k, v in list(self.voxels.items())[1:] if v > 0}
        return max(foreground, key=lambda k: foreground[k]) if foreground else self.class_names[0]

    @property
    def confidence(self) -> float:
        """Mean probability of :attr:`label` over the voxels predicted as it (a small lesion drawn with certainty
        is not "17%" because it covers a sixth of the image); over the image when that is not known."""
        region = (self.region_probabilities or {}).get(self.label)
        return region if region is not None else self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "source": self.source,
            "mask_path": self.mask_path,
            "label": self.label,
            # how sure the model is of the region it drew (the mean probability of the label over it), beside the
            # whole image's mean probabilities, which a small lesion's region barely moves
            "confidence": self.confidence,
            "class_names": self.class_names,
            "voxels": self.voxels,
            "volume_mm3": self.volume_mm3,
            "probabilities": self.probabilities,
            "region_probabilities": self.region_probabilities,
        }
        if self.domain is not None:
            result["domain"] = self.domain
        if self.series:
            result["series"] = self.series
        return result

    def csv_rows(self) -> list[dict[str, Any]]:
        """One CSV row: source, mask path, label and its :attr:`confidence` (over the region drawn), then voxels
        (and mm^2/mm^3 when known), the mean probability over the image (``p_``) and over the class's own region
        (``region_p_``, empty where it drew none) per class (and the series columns for inputs among DICOM series)."""
        from medimg.tasks.prediction_table import domain_columns, series_columns

        row: dict[str, Any] = {
            "source": self.source,
            "mask_path": self.mask_path or "",
            "label": self.label,
            "confidence": f"{self.confidence:.6f}",
        }
        regions = self.region_probabilities or {}
        for name in self.class_names:
            row[f"voxels_{name}"] = self.voxels[name]
            if self.volume_mm3 is not None:
                row[f"volume_mm3_{name}"] = f"{self.volume_mm3[name]:.3f}"
            row[f"p_{name}"] = f"{self.probabilities[name]:.6f}"
            region = regions.get(name)
            row[f"region_p_{name}"] = "" if region is None else f"{region:.6f}"
        return [{**row, **domain_columns(self.domain), **series_columns(self.series)}]


def summarise(
    labels: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    spacing_mm: Sequence[float] | None,
    source: str = "",
    mask_path: str | None = None,
    *,
    keep_mask: bool = True,
) -> SegmentationPrediction:
    """Per-class voxel counts, physical sizes (mm^2 in 2D, mm^3 in 3D, when the spacing is known) and mean
    probabilities of a label map ``(*spatial)`` and its probabilities ``(K, *spatial)``; ``keep_mask`` keeps
    ``labels`` as :attr:`SegmentationPrediction.mask`."""
    k = len(class_names)
    counts = np.bincount(labels.ravel(), minlength=k)[:k]
    unit = float(np.prod(spacing_mm)) if spacing_mm else None
    return SegmentationPrediction(
        source=source,
        mask_path=mask_path,
        class_names=list(class_names),
        voxels={n: int(c) for n, c in zip(class_names, counts, strict=True)},
        volume_mm3={n: float(c) * unit for n, c in zip(class_names, counts, strict=True)} if unit else None,
        probabilities={n: float(p) for n, p in zip(class_names, probs.reshape(k, -1).mean(1), strict=True)},
        mask=labels if keep_mask else None,
        region_probabilities=_region_probabilities(labels, probs, class_names),
    )


def _region_probabilities(labels: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> dict[str, float | None]:
    """Each class's mean probability over the voxels of ``labels`` predicted as it (``None`` where none is)."""
    k = len(class_names)
    drawn = np.minimum(labels.ravel().astype(np.int64), k - 1)
    own = probs.reshape(k, -1)[drawn, np.arange(drawn.size)]  # each voxel's probability of the class drawn there
    sums = np.bincount(drawn, weights=own, minlength=k)
    counts = np.bincount(drawn, minlength=k)
    return {name: (float(sums[i] / counts[i]) if counts[i] else None) for i, name in enumerate(class_names)}
