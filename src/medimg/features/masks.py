"""Mask files beside images: find them by a name pattern and decode them to integer label maps.

A mask spec is a preset name or a file-name pattern relative to the image's folder:

* ``"herlev"``: ``{stem}-d.bmp`` colour masks of the Herlev Pap-smear set, nucleus (blue ``0,0,255``) -> 1,
  cytoplasm (red ``255,0,0``) -> 2, everything else (dark-blue background, grey, black) -> 0.
* ``"{stem}_mask.png"`` (any pattern with ``{stem}``, ``{name}`` or ``{suffix}``; the stem of ``case.nii.gz`` is
  ``case``): grayscale masks;
  ``0/255`` or ``0/1`` masks become one region (label 1), masks with more values keep their integer labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medimg.errors import ConfigError, DatasetError

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
        return {"pattern": self.pattern, "colours": {k: list(v) for k, v in self.colours.items()}}

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

    def read(self, path: Path) -> np.ndarray:
        """Decode a mask file to an ``(*spatial)`` int32 label map."""
        from medimg.io import read_image

        array = read_image(path).array  # (C, *spatial) raw
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

        return normalise_mask(array[0] if array.shape[0] == 1 else array.max(axis=0), str(path))
