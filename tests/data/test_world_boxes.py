"""LUNA16: nodules as centres in scanner millimetres with a diameter (``annotations.csv``) beside ``subsetN/`` of
``<seriesuid>.mhd`` scans, read as 3D boxes through each scan's header. The set was read as two classes,
``subset0`` and ``subset1``, without a word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg import Dataset
from medimg.data.layouts import select_layout
from medimg.errors import DatasetError
from medimg.io import read_image

SPACING = (0.7, 0.8, 2.5)


def _scan(path: Path, nodule_index: tuple[int, int, int] | None, direction: tuple[float, ...]) -> np.ndarray:
    """A ``(z, y, x)`` scan of -800 HU with a bright 11x11x5 voxel block centred at ITK index ``(x, y, z)``; returns
    the world centre (LPS mm) of that index."""
    sitk = pytest.importorskip("SimpleITK")  # medimg[itk]
    array = np.full((24, 40, 40), -800, np.int16)
    if nodule_index is not None:
        x, y, z = nodule_index
        array[z - 2 : z + 3, y - 5 : y + 6, x - 5 : x + 6] = 50
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin((-150.0, 40.0, -300.0))
    image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    if nodule_index is None:
        return np.zeros(3)
    return np.array(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in nodule_index]))


def write_luna(root: Path) -> Path:
    """Four scans in two subsets (one with a flipped y axis, one without a nodule), a lung mask of the same name
    in ``seg-lungs-LUNA16/``, and a row for a series that is not unpacked."""
    identity, flipped = (1, 0, 0, 0, 1, 0, 0, 0, 1), (1, 0, 0, 0, -1, 0, 0, 0, 1)
    rows = ["seriesuid,coordX,coordY,coordZ,diameter_mm"]
    for k in range(4):
        uid = f"1.3.6.1.4.1.14519.5.2.1.6279.6001.10{k}"
        nodule = None if k == 3 else (20, 18, 10)
        centre = _scan(root / f"subset{k % 2}" / f"{uid}.mhd", nodule, flipped if k == 1 else identity)
        if nodule is not None:
            rows.append(f"{uid},{centre[0]},{centre[1]},{centre[2]},7.0")
    _scan(root / "seg-lungs-LUNA16" / "1.3.6.1.4.1.14519.5.2.1.6279.6001.100.mhd", None, identity)
    rows.append("1.3.6.1.4.1.14519.5.2.1.6279.6001.999,0,0,0,5.0")
    (root / "annotations.csv").write_text("\n".join(rows) + "\n")
    return root


def test_luna16_nodules_are_3d_boxes_on_the_scans(tmp_path: Path) -> None:
    root = write_luna(tmp_path / "luna16")
    assert select_layout(root).name == "world_boxes"
    dataset = Dataset.load(root)
    assert dataset.task == "detect" and dataset.class_names == ["nodule"]
    assert [c.case_id.split("/")[0] for c in dataset.cases] == ["subset0", "subset1", "subset0", "subset1"]
    assert [len(c.boxes or ()) for c in dataset.cases] == [1, 1, 1, 0]  # the last scan has no nodule
    for case in dataset.cases[:3]:
        (box,) = case.boxes or ()
        array = read_image(case.path).array[0]  # (i, j, k) = ITK (x, y, z), the box's (z, y, x)
        assert box.z2 - box.z1 == pytest.approx(7.0 / SPACING[0])
        assert box.x2 - box.x1 == pytest.approx(7.0 / SPACING[2])
        centre = [int((a + b) / 2) for a, b in ((box.z1, box.z2), (box.y1, box.y2), (box.x1, box.x2))]
        assert array[tuple(centre)] == 50  # the nodule, also on the scan whose y axis runs the other way


def test_a_row_that_is_not_a_number_names_its_line(tmp_path: Path) -> None:
    root = write_luna(tmp_path / "luna16")
    table = root / "annotations.csv"
    table.write_text(table.read_text() + "1.3.6.1.4.1.14519.5.2.1.6279.6001.100,n/a,0,0,5.0\n")
    with pytest.raises(DatasetError, match=r"annotations\.csv line 6: a centre or diameter that is not a number"):
        Dataset.load(root)
