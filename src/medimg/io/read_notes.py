"""What the raster readers keep as stored where a viewer shows the image otherwise, said once per set of files.

Two properties of a file are not applied to its pixels (as MONAI and torchvision read them), so training, evaluation
and prediction see the same pixels whatever the file's metadata:

* an **EXIF orientation** (``meta["exif_orientation"]``, 2..8): photo viewers, browsers and annotation tools (CVAT,
  LabelMe) show the image turned or mirrored; orientations 5..8 swap its width and height;
* **transparency** (``meta["transparent"]``: the share of pixels whose alpha is below full opacity): the alpha
  channel is dropped, so the network sees the colour stored under a transparent pixel (often black), not the white
  or checkerboard a viewer shows. Masks are read the same way, which is why the colour is not changed here.

:func:`exif_warning` and :func:`transparency_warning` are ``medimg check``'s warnings (one each per data set);
:class:`ReadNotes` gives a prediction's (one each per set of inputs, naming the first file).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

__all__ = ["EXIF_ORIENTATIONS", "ReadNotes", "exif_warning", "sides_swapped", "transparency_warning"]

#: EXIF orientation -> how the stored pixels are shown by a viewer (orientation 1 is upright)
EXIF_ORIENTATIONS: dict[int, str] = {
    2: "mirrored left to right",
    3: "turned 180 degrees",
    4: "mirrored top to bottom",
    5: "transposed (mirrored and turned 90 degrees)",
    6: "turned 90 degrees clockwise",
    7: "transversed (mirrored and turned 90 degrees)",
    8: "turned 90 degrees counter-clockwise",
}


def sides_swapped(orientation: int | None) -> bool:
    """Whether a viewer shows an image of this EXIF orientation with its width and height swapped (5..8)."""
    return orientation in (5, 6, 7, 8)


def describe_orientation(orientation: int) -> str:
    """``"EXIF orientation 6: viewers show it turned 90 degrees clockwise"``."""
    shown = EXIF_ORIENTATIONS.get(int(orientation), "turned or mirrored")
    return f"EXIF orientation {orientation}: viewers show it {shown}"


def exif_warning(paths: Sequence[str]) -> str:
    """The check's warning about images whose EXIF orientation is not upright."""
    return (
        f"{len(paths)} image(s) carry an EXIF orientation (e.g. {paths[0]}): photo viewers show them turned or "
        "mirrored, medimg reads the pixels as stored (as MONAI and torchvision do); masks and boxes must be drawn on "
        "the stored pixels, or re-save the images upright"
    )


_TRANSPARENCY_EFFECT = (
    "medimg drops the alpha channel, so the network sees the colour stored under the transparent pixels (often "
    "black), not the white or checkerboard a viewer shows"
)
_TRANSPARENCY_FIX = (
    "flatten the images onto their background (white for brightfield slides and most crops) before training and "
    "prediction, e.g. with Pillow: Image.alpha_composite(Image.new('RGBA', im.size, 'white'), im).convert('RGB')"
)


def _percent(share: float) -> str:
    return "under 1%" if share < 0.01 else f"{share:.0%}"


def transparency_warning(paths: Sequence[str], shares: Sequence[float]) -> str:
    """The check's warning about images with transparent pixels (``shares``: each one's transparent share)."""
    return (
        f"{len(paths)} image(s) have transparent pixels (e.g. {paths[0]}: {_percent(shares[0])} of its pixels): "
        f"{_TRANSPARENCY_EFFECT}; {_TRANSPARENCY_FIX}"
    )


@dataclass
class ReadNotes:
    """A prediction's notes about its inputs (:meth:`note` each image read): the first input with an EXIF
    orientation and the first with transparent pixels are named in a warning, once per set of inputs (a reader's
    life), not once per file.

    Attributes:
        exif: how many inputs noted had an EXIF orientation.
        transparent: how many inputs noted had transparent pixels.
    """

    exif: int = 0
    transparent: int = 0

    def note(self, image: ImageData) -> None:
        """Warn about ``image`` (its ``source`` names it) when it is the first of its kind."""
        orientation = image.meta.get("exif_orientation")
        if orientation:
            self.exif += 1
            if self.exif == 1:
                logger.warning(
                    "%s carries an %s; the model sees the pixels as stored (as its training images were read), and "
                    "masks, boxes and heatmaps are given on them; re-save it upright if it was meant to be seen as "
                    "the viewer shows it (the other inputs with an EXIF orientation are not listed)",
                    image.source,
                    describe_orientation(int(orientation)),
                )
        share = float(image.meta.get("transparent") or 0.0)
        if share > 0:
            self.transparent += 1
            if self.transparent == 1:
                logger.warning(
                    "%s has transparent pixels (%s of them): %s; %s (the other inputs with transparent pixels are "
                    "not listed)",
                    image.source,
                    _percent(share),
                    _TRANSPARENCY_EFFECT,
                    _TRANSPARENCY_FIX,
                )
