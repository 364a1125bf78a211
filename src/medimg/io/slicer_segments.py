"""The segments a 3D Slicer segmentation file (``.seg.nrrd``) names in its header.

Slicer saves a segmentation as an NRRD file whose header lists each segment: ``Segment<i>_Name``, the layer it is
stored in (``Segment<i>_Layer``: the file's first axis when segments overlap, a 4D file) and its value there
(``Segment<i>_LabelValue``). The values are the segment's place in *that* file's list: a case whose annotator added
the tumour before the liver stores the tumour as 1, another case the liver. Read as plain label maps, such files give
one class two meanings; :mod:`medimg.data.slicer_classes` gives each segment name one class instead.

Files written before Slicer 4.11 store each segment in a layer of its own with the value 1 and omit both keys.
Only the header is read (plain text before the first empty line, also in front of gzip-encoded data).

:func:`write_segmentation` writes a label map as such a file (one layer; SimpleITK writes the NRRD), so a predicted
mask opens in Slicer as a segmentation with its classes' names and colours.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: at most this much of a file is read looking for the end of its header
HEADER_LIMIT = 1 << 20
_FIELD = re.compile(r"^Segment(\d+)_(Name|LabelValue|Layer):=(.*)$")


@dataclass(frozen=True)
class Segment:
    """One segment of a Slicer segmentation file.

    Attributes:
        index: its place in the file's segment list (0 first).
        name: its name as the annotator wrote it.
        layer: the index of the layer (the file's first axis when it has several) holding it.
        value: its value in that layer.
    """

    index: int
    name: str
    layer: int
    value: int

    @property
    def key(self) -> str:
        """The name compared across files: composed Unicode, surrounding spaces dropped, case folded."""
        return unicodedata.normalize("NFC", self.name).strip().casefold()


def _header_bytes(path: Path, chunk: int = 1 << 14) -> bytes:
    """The start of ``path`` up to the end of its NRRD header (the first empty line), read a chunk at a time (at most
    :data:`HEADER_LIMIT`): the data after it is not read."""
    head = b""
    with path.open("rb") as stream:
        while len(head) < HEADER_LIMIT:
            more = stream.read(chunk)
            head += more
            if not more or not head.startswith(b"NRRD"[: len(head)]) or b"\n\n" in head.replace(b"\r\n", b"\n"):
                break
    return head


def segments_of(path: str | Path) -> tuple[Segment, ...]:
    """The segments ``path``'s header lists, in its order; ``()`` for a file that is no Slicer segmentation (no
    NRRD header, or one naming no segment) or cannot be read."""
    path = Path(path)
    if not path.name.lower().endswith((".nrrd", ".nhdr")):
        return ()
    try:
        head = _header_bytes(path)
    except OSError:
        return ()
    if not head.startswith(b"NRRD"):
        return ()
    end = head.find(b"\n\n")
    header = (head if end < 0 else head[:end]).decode("latin-1").replace("\r", "")
    fields: dict[int, dict[str, str]] = {}
    for line in header.split("\n"):
        match = _FIELD.match(line)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = match.group(3).strip()
    segments = []
    for index in sorted(fields):
        named = fields[index]
        if "Name" not in named:
            continue
        try:  # before Slicer 4.11: each segment in its own layer, as 1
            layer = int(named.get("Layer", index))
            value = int(named.get("LabelValue", 1))
        except ValueError:
            return ()
        name = named["Name"].encode("latin-1").decode("utf-8", errors="replace")  # Slicer writes UTF-8
        segments.append(Segment(index=index, name=name, layer=layer, value=value))
    return tuple(segments)


def write_segmentation(
    labels: np.ndarray,
    path: str | Path,
    affine: np.ndarray | None,
    segments: Sequence[tuple[str, int, Sequence[int]]],
) -> Path:
    """Write the label map ``labels`` ``(X, Y, Z)`` (uint8 values, RAS+ ``affine`` as :func:`medimg.io.read_image`
    returns it; identity when ``None``) to ``path`` as a 3D Slicer segmentation: one layer, each of ``segments``
    ``(name, value, colour 0-255)`` listed in the header with its extent. Written atomically.

    Raises:
        MissingDependencyError: SimpleITK is not installed.
        OSError: the folder cannot be written.
    """
    from medimg.fileio import atomic_write_bytes
    from medimg.io.itk import LPS_TO_RAS, require_simpleitk

    require_simpleitk()
    import SimpleITK as sitk

    volume = np.asarray(labels, dtype=np.uint8)
    matrix = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.T))  # SimpleITK's arrays are (z, y, x)
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in LPS_TO_RAS @ matrix[:3, 3]])
    image.SetDirection([float(v) for v in (LPS_TO_RAS @ matrix[:3, :3] / spacing).ravel()])
    image.SetMetaData("Segmentation_MasterRepresentation", "Binary labelmap")
    image.SetMetaData("Segmentation_ContainedRepresentationNames", "Binary labelmap|")
    image.SetMetaData("Segmentation_ReferenceImageExtentOffset", "0 0 0")
    for index, (name, value, colour) in enumerate(segments):
        where = np.argwhere(volume == value)
        extent = (
            " ".join(f"{low} {high}" for low, high in zip(where.min(axis=0), where.max(axis=0), strict=True))
            if len(where)
            else "0 -1 0 -1 0 -1"  # Slicer's extent of an empty segment
        )
        fields = {
            "ID": f"Segment_{value}",
            "Name": name,
            "NameAutoGenerated": "0",
            "Color": " ".join(f"{c / 255:.4g}" for c in colour),
            "ColorAutoGenerated": "0",
            "LabelValue": str(value),
            "Layer": "0",
            "Extent": extent,
            "Tags": "|",
        }
        for key, text in fields.items():
            image.SetMetaData(f"Segment{index}_{key}", text)
    with tempfile.TemporaryDirectory(prefix="medimg-seg-") as tmp:
        written = Path(tmp) / "mask.seg.nrrd"
        writer = sitk.ImageFileWriter()
        writer.SetFileName(str(written))
        writer.UseCompressionOn()
        writer.Execute(image)
        return atomic_write_bytes(path, written.read_bytes())
