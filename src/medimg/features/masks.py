"""Mask files beside images: find them by a name pattern and decode them to integer label maps.

A mask spec is a preset name or a file-name pattern relative to the image's folder:

* ``"herlev"``: ``{stem}-d.bmp`` colour masks of the Herlev Pap-smear set, nucleus (blue ``0,0,255``) -> 1,
  cytoplasm (red ``255,0,0``) -> 2, everything else (dark-blue background, grey, black) -> 0.
* ``"{stem}_mask.png"`` (any pattern with ``{stem}``, ``{name}`` or ``{suffix}``; the stem of ``case.nii.gz`` is
  ``case``): grayscale masks;
  ``0/255`` or ``0/1`` masks become one region (label 1), masks with more values keep their integer labels; the
  values of JPEG masks are first moved to their few levels (:func:`snap_lossy`: JPEG's ringing is not region).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medimg.errors import ConfigError, DatasetError
from medimg.io.formats import is_lossy

if TYPE_CHECKING:
    from medimg.io.image import ImageData

MASK_PRESETS: dict[str, tuple[str, dict[str, tuple[int, int, int]]]] = {
    "herlev": ("{stem}-d.bmp", {"nucleus": (0, 0, 255), "cytoplasm": (255, 0, 0)}),
}


@dataclass(frozen=True)
class MaskSpec:
    """Where masks are and how to decode them.

    Attributes:
        pattern: file name relative to the image's folder, e.g. ``"{stem}-d.bmp"``.
        colours: ``region name -> RGB``; region ``i`` (in order) becomes label ``i + 1``. Empty for grayscale
            label masks.
    """

    pattern: str
    colours: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str | MaskSpec | None) -> MaskSpec | None:
        """A preset name or a pattern -> :class:`MaskSpec` (``None`` stays ``None``).

        Raises:
            ConfigError: the pattern names no part of the image file (``{stem}``, ``{name}``).
        """
        if value is None or isinstance(value, MaskSpec):
            return value
        text = str(value).strip()
        if text.lower() in MASK_PRESETS:
            pattern, colours = MASK_PRESETS[text.lower()]
            return cls(pattern, dict(colours))
        if "{stem}" not in text and "{name}" not in text:
            raise ConfigError(
                f"masks={text!r}: use a preset ({', '.join(MASK_PRESETS)}) or a file-name pattern with {{stem}}, "
                "e.g. '{stem}_mask.png' (relative to each image's folder)"
            )
        return cls(text)

    @property
    def labels(self) -> tuple[int, ...]:
        """Label values of the named regions (``()`` for grayscale masks: the ROI only)."""
        return tuple(range(1, len(self.colours) + 1))

    def to_json(self) -> dict[str, object]:
        record: dict[str, object] = {"pattern": self.pattern, "colours": {k: list(v) for k, v in self.colours.items()}}
        record["volumes"] = "on their image's grid"  # keeps rows cached from masks read raw (misaligned) apart
        if not self.colours and is_lossy(self.pattern):
            record["lossy"] = "values snapped to their levels"  # also keeps cached rows of unsnapped masks apart
        return record

    def find(self, image_path: Path) -> Path:
        """The mask file of ``image_path`` (exact name, else a case-insensitive match in the folder).

        Raises:
            DatasetError: no mask file exists for the image.
        """
        from medimg.io.formats import file_suffix

        suffix = image_path.name[len(image_path.name) - len(file_suffix(image_path)) :]
        stem = image_path.name[: len(image_path.name) - len(suffix)]
        names = [self.pattern.format(stem=stem, name=image_path.name, suffix=suffix)]
        if stem != image_path.stem:  # case_01.nii.gz: {stem} is case_01; Path.stem's case_01.nii still found
            names.append(self.pattern.format(stem=image_path.stem, name=image_path.name, suffix=image_path.suffix))
        for name in names:
            candidate = image_path.parent / name
            if candidate.is_file():
                return candidate
        lowered = {name.lower() for name in names}
        for other in image_path.parent.iterdir():
            if other.name.lower() in lowered and other.is_file():
                return other
        raise DatasetError(
            f"no mask for {image_path}: expected {image_path.parent / names[0]} (mask pattern {self.pattern!r})"
        )

    def read(self, path: Path, like: ImageData | None = None) -> np.ndarray:
        """Decode a mask file to an ``(*spatial)`` int32 label map.

        Args:
            like: the image as it was read (a classification volume is read in RAS+ axis order): a mask volume
                stored in another voxel orientation (LPS...) is flipped/permuted onto the image's grid, one of
                another size that its header places on a box of the image's grid (3D Slicer's segmentation cropped
                to its segments) is put there (:func:`medimg.data.mask_grid.box_on_image_grid`).

        Raises:
            DatasetError: the mask volume lies on another voxel grid than its image (spacing, origin, rotation).
        """
        from medimg.io import read_image
        from medimg.io.orientation import picture_order

        data = picture_order(read_image(path))  # a 2D .mha/.nrrd mask rows first, as its image is read
        array = data.array  # (C, *spatial) raw
        if like is not None and array.ndim == 4:
            array = _on_image_grid(path, array, data.affine, like)
        if self.colours:
            if array.shape[0] < 3:
                raise DatasetError(f"mask {path} is not a colour image but the mask spec expects colours")
            rgb = np.rint(array[:3]).astype(np.int64)
            labels = np.zeros(array.shape[1:], dtype=np.int32)
            for index, colour in enumerate(self.colours.values(), start=1):
                hit = np.all(rgb == np.asarray(colour, dtype=np.int64).reshape(3, *[1] * (rgb.ndim - 1)), axis=0)
                labels[hit] = index
            return labels
        from medimg.features.samples import normalise_mask

        grey = array[0] if array.shape[0] == 1 else array.max(axis=0)
        if is_lossy(path):
            grey = snap_lossy(grey)
        return normalise_mask(grey, str(path))


#: a value of a lossy mask is one of its levels when it covers at least this share of the largest foreground level
LEVEL_MIN_SHARE = 0.1


def snap_lossy(mask: np.ndarray) -> np.ndarray:
    """A JPEG mask's values moved to its dominant levels: without it every faint ringing value around the edges
    (1, 2, 3...) counts as region, and a 0/255 circle's region grows by a fifth.

    The pixels within 1/16 of the value range of a value are its level's (JPEG spreads each level over neighbouring
    values, the most common of which stands for it); the most common level is the background, and each other level at
    least 1/8 of the range from those already found that holds :data:`LEVEL_MIN_SHARE` of the largest foreground
    level's pixels is a level too.
    """
    rounded = np.rint(mask).astype(np.float64)
    values, counts = np.unique(rounded, return_counts=True)
    if values.size <= 2:
        return rounded
    span = float(values[-1] - values[0])
    near = np.abs(values[:, None] - values[None, :]) <= span / 16
    pooled = (near * counts[None, :]).sum(axis=1)  # pixels at about each value
    levels: list[float] = []
    largest = 0.0
    for index in np.argsort(-pooled, kind="stable"):
        value = float(values[index])
        if any(abs(value - level) <= span / 8 for level in levels):
            continue
        if len(levels) == 1:
            largest = float(pooled[index])  # the largest foreground level
        if len(levels) <= 1 or pooled[index] >= LEVEL_MIN_SHARE * largest:
            levels.append(float(values[near[index]][np.argmax(counts[near[index]])]))  # its most common value
    ordered = np.asarray(levels)
    return ordered[np.abs(rounded[..., None] - ordered).argmin(axis=-1)]


def _on_image_grid(path: Path, array: np.ndarray, affine: np.ndarray | None, like: ImageData) -> np.ndarray:
    """A mask volume ``(C, X, Y, Z)`` on the grid of its image ``like``: in its axis order, and put on the box of its
    grid where the mask's header places a mask of another size.

    Raises:
        DatasetError: after reorientation its grid still differs from the image's.
    """
    from medimg.data.mask_grid import aligned_to_image, note_left_out
    from medimg.io.channels import grid_difference
    from medimg.io.orientation import has_geometry

    if not (has_geometry(affine) and has_geometry(like.affine)):
        return array
    assert like.affine is not None
    aligned = aligned_to_image(array, affine, like.affine, like.spatial_shape)
    if aligned.box is not None:
        note_left_out(path, aligned.box)
        return aligned.array
    array = aligned.array
    assert aligned.affine is not None
    difference = grid_difference(aligned.affine, like.affine)
    if difference is not None:
        raise DatasetError(
            f"mask {path} lies on another voxel grid than its image ({difference}): resample the mask onto the "
            "image's grid (same spacing, origin and orientation)"
        )
    return array
