"""LIDC-IDRI as TCIA ships it: a CT series with its readers' nodule outlines in an XML beside the slices."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pydicom

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.data.layouts import detect_layout
from tests.io.conftest import write_dicom

SERIES = "1.3.6.1.4.1.14519.5.2.1.6279.6001.1"
RECTANGLE = (5, 12, 8, 11)  # columns 5-12, rows 8-11: oblong, so a swap of rows and columns shows


def _perimeter(x1: int, x2: int, y1: int, y2: int) -> list[tuple[int, int]]:
    """The outline's own pixels, clockwise, as LIDC's edgeMaps list them."""
    top = [(x, y1) for x in range(x1, x2 + 1)]
    right = [(x2, y) for y in range(y1 + 1, y2 + 1)]
    bottom = [(x, y2) for x in range(x2 - 1, x1 - 1, -1)]
    left = [(x1, y) for y in range(y2 - 1, y1, -1)]
    return top + right + bottom + left


def _roi(sop: str, points: list[tuple[int, int]], inclusion: bool = True) -> str:
    edges = "".join(f"<edgeMap><xCoord>{x}</xCoord><yCoord>{y}</yCoord></edgeMap>" for x, y in points)
    return (
        f"<roi><imageZposition>0</imageZposition><imageSOP_UID>{sop}</imageSOP_UID>"
        f"<inclusion>{'TRUE' if inclusion else 'FALSE'}</inclusion>{edges}</roi>"
    )


def _nodule(rois: str, outlined: bool = True) -> str:
    characteristics = "<characteristics><malignancy>3</malignancy></characteristics>" if outlined else ""
    return f"<unblindedReadNodule><noduleID>N</noduleID>{characteristics}{rois}</unblindedReadNodule>"


def write_lidc(root: Path) -> Path:
    """``LIDC-IDRI/LIDC-IDRI-0001/<study>/<series>/``: 6 axial slices (each of its own intensity, listed out of
    order), an XML of four readers, and a chest radiograph series with its own (``IdriReadMessage``) XML, whose
    study folder sorts first."""
    folder = root / "LIDC-IDRI" / "LIDC-IDRI-0001" / "01-01-2000-30178" / "3000566.000000-03192"
    folder.mkdir(parents=True)
    sops = []
    for i in (3, 0, 5, 1, 4, 2):
        file = write_dicom(
            folder / f"1-{i + 1:03d}.dcm", np.full((24, 24), 100 * (i + 1), np.uint16), pixel_spacing=(0.7, 0.8),
            position=(-10.0, -20.0, -100.0 + 2.5 * i), orientation=(1, 0, 0, 0, 1, 0), series_uid=SERIES,
            slope=1, intercept=-1024, extra={"StudyInstanceUID": "1.2.3", "PatientID": "LIDC-IDRI-0001"},
        )  # fmt: skip
        sops.append((i, str(pydicom.dcmread(file, stop_before_pixels=True).SOPInstanceUID)))
    sop = dict(sops)
    box = _perimeter(*RECTANGLE)
    readers = [
        _nodule(_roi(sop[2], box) + _roi(sop[3], box)),
        _nodule(_roi(sop[2], box) + _roi(sop[3], box)),
        _nodule(_roi(sop[2], box)) + _nodule(_roi(sop[1], [(3, 3)]), outlined=False),  # + a nodule under 3 mm
        _nodule(_roi(sop[4], _perimeter(15, 20, 15, 20))) + "<nonNodule><imageZposition>0</imageZposition></nonNodule>",
    ]  # fmt: skip
    sessions = "".join(f"<readingSession><servicingRadiologistID>R{k}</servicingRadiologistID>{r}</readingSession>"
                       for k, r in enumerate(readers))  # fmt: skip
    (folder / "069.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><LidcReadMessage xmlns="http://www.nih.gov" uid="1">'
        f"<ResponseHeader><SeriesInstanceUid>{SERIES}</SeriesInstanceUid></ResponseHeader>{sessions}"
        "</LidcReadMessage>"
    )
    radiograph = root / "LIDC-IDRI" / "LIDC-IDRI-0001" / "01-01-2000-10000" / "3000923.000000-62357"
    radiograph.mkdir(parents=True)
    write_dicom(radiograph / "1-1.dcm", np.zeros((24, 24), np.uint16), modality="CR")
    (radiograph / "071.xml").write_text('<IdriReadMessage xmlns="http://www.nih.gov"></IdriReadMessage>')
    return root / "LIDC-IDRI"


def test_readers_outlines_make_a_consensus_nodule_mask(tmp_path: Path) -> None:
    root = write_lidc(tmp_path)
    assert detect_layout(root) is not None and detect_layout(root).name == "lidc_masks"  # type: ignore[union-attr]
    data = Dataset.load(root)
    assert isinstance(data, SegmentationDataset) and data.source == "lidc-idri"
    assert data.value_names == {0: "background", 1: "nodule"}
    assert len(data.cases) == 1 and data.cases[0].patient_id == "LIDC-IDRI-0001"  # the radiograph is not a case
    sample = dataclasses.replace(data, canonical_orientation=False).read(data.cases[0])  # (slice, row, column)
    assert sample.mask is not None
    slice_of = [round(float(v) + 1024) // 100 - 1 for v in sample.image.array[0, :, 0, 0]]  # D -> slice
    x1, x2, y1, y2 = RECTANGLE
    expected = np.zeros((24, 24), np.uint8)
    expected[y1 : y2 + 1, x1 : x2 + 1] = 1  # rows, columns; the outline's pixels included
    for d, i in enumerate(slice_of):
        # slices 2 (three readers) and 3 (two): at least half of four; slice 4 (one reader), the small nodule and
        # the non-nodule: not
        np.testing.assert_array_equal(sample.mask[0, d], expected if i in (2, 3) else 0 * expected, err_msg=f"{i}")


def test_nodules_as_3d_boxes(tmp_path: Path) -> None:
    data = Dataset.load(write_lidc(tmp_path), task="detect")
    assert data.task == "detect" and data.class_names == ["nodule"]
    boxes = data.cases[0].boxes
    assert boxes is not None and len(boxes) == 1
    x1, x2, y1, y2 = RECTANGLE
    box = boxes[0]
    assert (box.x1, box.y1, box.x2, box.y2) == (x1, y1, x2 + 1, y2 + 1)
    assert box.z2 is not None and box.z1 is not None and box.z2 - box.z1 == 2  # two slices
