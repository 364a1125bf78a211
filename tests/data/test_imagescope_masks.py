"""Aperio ImageScope XML outlines (MoNuSeg's ``Annotations/*.xml`` beside ``Tissue Images/*.tif``) drawn into
label maps: the set was read as one class, ``Tissue Images``, and refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import select_layout
from medimg.errors import DatasetError


def _region(points: list[tuple[float, float]], *, kind: str = "0", hole: bool = False) -> str:
    vertices = "".join(f'<Vertex X="{x}" Y="{y}" Z="0"/>' for x, y in points)
    head = f'<Region Id="1" Type="{kind}" NegativeROA="{int(hole)}"><Attributes/>'
    return f"{head}<Vertices>{vertices}</Vertices></Region>"


def _annotation(regions: list[str], name: str = "", layer: int = 1) -> str:
    return (
        f'<Annotation Id="{layer}" Name="{name}" Type="4"><Attributes><Attribute Name="Description" Id="0" Value=""/>'
        f"</Attributes><Regions>{''.join(regions)}</Regions></Annotation>"
    )


def write_monuseg(root: Path, n: int = 3) -> Path:
    """``MoNuSeg 2018 Training Data/{Tissue Images,Annotations}``: a 10x10 square nucleus with a 4x4 hole and an
    ellipse per image; the last image has no XML."""
    data = root / "MoNuSeg 2018 Training Data"
    (data / "Tissue Images").mkdir(parents=True)
    (data / "Annotations").mkdir()
    for k in range(n + 1):
        name = f"TCGA-{k:02d}-5592-01Z-00-DX1"
        Image.fromarray(np.full((32, 40, 3), 150, np.uint8)).save(data / "Tissue Images" / f"{name}.tif")
        if k == n:
            continue
        square = _region([(2, 2), (12, 2), (12, 12), (2, 12)])
        hole = _region([(5, 5), (9, 5), (9, 9), (5, 9)], hole=True)
        ellipse = _region([(20, 10), (36, 26)], kind="2")
        layer = _annotation([square, hole, ellipse])
        xml = f'<?xml version="1.0"?><Annotations MicronsPerPixel="0.25">{layer}</Annotations>'
        (data / "Annotations" / f"{name}.xml").write_text(xml)
    return root


def test_monuseg_outlines_are_drawn_into_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    root = write_monuseg(tmp_path / "monuseg")
    assert select_layout(root).name == "imagescope_masks"
    dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and dataset.task == "segment"
    assert len(dataset.cases) == 3 and dataset.unlabelled == [
        "MoNuSeg 2018 Training Data/Tissue Images/TCGA-03-5592-01Z-00-DX1.tif"
    ]
    assert dataset.value_names == {0: "background", 1: "foreground"}
    mask = dataset.read(dataset.cases[0]).mask[0]
    assert mask.shape == (32, 40) and set(np.unique(mask)) == {0, 1}
    assert mask[3, 3] == 1 and mask[7, 7] == 0  # the square, and its hole
    assert mask[18, 28] == 1 and mask[11, 21] == 0  # the ellipse's centre, not its bounding box's corner
    assert 100 < int(mask.sum()) < 11 * 11 - 9 + 17 * 17  # square - hole + ellipse (less than its box)
    assert SegmentationDataset.load(root).value_names == dataset.value_names  # fit --task segment reads it too


def test_monuseg_test_data_is_the_test_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MoNuSeg's ``MoNuSegTestData/`` (images and XMLs together) beside ``MoNuSeg 2018 Training Data/``: its images
    were trained on, the test split cut from the training images."""
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    root = write_monuseg(tmp_path / "monuseg")
    test = root / "MoNuSegTestData"
    test.mkdir()
    for k in range(2):
        name = f"TCGA-2Z-A9J{k}-01A-01-TS1"
        Image.fromarray(np.full((32, 40, 3), 150, np.uint8)).save(test / f"{name}.tif")
        square = _region([(2, 2), (12, 2), (12, 12), (2, 12)])
        (test / f"{name}.xml").write_text(f'<?xml version="1.0"?><Annotations>{_annotation([square])}</Annotations>')
    dataset = Dataset.load(root)
    assert dataset.split_counts() == {"train": 3, "test": 2}
    assert {c.image.parent.name for c in dataset.cases if c.split == "test"} == {"MoNuSegTestData"}


def test_named_layers_are_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    for k in range(2):
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / f"slide{k}.png")
        tumour = _annotation([_region([(1, 1), (8, 1), (8, 8), (1, 8)])], name="tumour", layer=1)
        stroma = _annotation([_region([(10, 10), (18, 10), (18, 18), (10, 18)])], name="stroma", layer=2)
        (tmp_path / f"slide{k}.xml").write_text(f"<Annotations>{tumour}{stroma}</Annotations>")
    dataset = Dataset.load(tmp_path, task="segment")
    assert dataset.value_names == {0: "background", 1: "stroma", 2: "tumour"}
    mask = dataset.read(dataset.cases[0]).mask[0]
    assert (mask[4, 4], mask[14, 14], mask[9, 0]) == (2, 1, 0)


def test_outlines_of_a_whole_slide_beside_its_thumbnail_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BACH: ``WSI/A01.xml`` (outlines at the slide's full resolution) paired by name with
    ``WSI/gt_thumbnails/A01.png``, 20 pixels wide: drawn onto it, a segmenter trained on nonsense with status OK."""
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    for k in range(2):
        (tmp_path / "WSI" / "gt_thumbnails").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "WSI" / "gt_thumbnails" / f"A0{k}.png")
        region = _annotation([_region([(4000, 5000), (9000, 5000), (9000, 9000), (4000, 9000)])], name="Benign")
        (tmp_path / "WSI" / f"A0{k}.xml").write_text(f"<Annotations>{region}</Annotations>")
    with pytest.raises(DatasetError, match=r"A00\.xml: its outlines reach x 9000, y 9000, but .*A00\.png is 20x20 px"):
        Dataset.load(tmp_path, task="segment")


def test_outlines_beside_their_whole_slide_are_not_drawn_on_a_thumbnail_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BACH with ``WSI/A01.svs`` beside ``A01.xml``: outlines near the slide's origin fit inside
    ``gt_thumbnails/A01.png``, so they were drawn on the thumbnail, Dice 0.53 with status OK. The XML belongs to the
    slide beside it, which medimg does not read: refused naming the slide."""
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    for k in range(3):
        (tmp_path / "WSI" / "gt_thumbnails").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "WSI" / "gt_thumbnails" / f"A0{k}.png")
        (tmp_path / "WSI" / f"A0{k}.svs").write_bytes(b"II*\x00" + bytes(64))
        region = _annotation([_region([(4, 4), (20, 4), (20, 18), (4, 18)])], name="Benign")
        (tmp_path / "WSI" / f"A0{k}.xml").write_text(f"<Annotations>{region}</Annotations>")
    with pytest.raises(
        DatasetError, match=r"3 ImageScope XML file\(s\) lie beside the whole-slide image .*WSI/A00\.svs"
    ):
        Dataset.load(tmp_path, task="segment")


def test_a_broken_xml_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    root = write_monuseg(tmp_path / "monuseg")
    broken = next((root / "MoNuSeg 2018 Training Data" / "Annotations").glob("*.xml"))
    broken.write_text(broken.read_text()[:-40])
    with pytest.raises(DatasetError, match=rf"{broken.name}: not readable ImageScope XML"):
        Dataset.load(root)


def test_monusac_layers_are_named_by_their_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MoNuSAC: each ``<Annotation>`` layer has no ``Name``; its class is its attribute's (``<Attribute
    Name="Epithelial">``), and its ``Id`` differs from file to file. The layers were ``layer_<Id>``: a different class
    for the same cell type in each image, silently."""
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))

    def layer(kind: str, layer_id: int, square: tuple[int, int]) -> str:
        x, y = square
        region = _region([(x, y), (x + 6, y), (x + 6, y + 6), (x, y + 6)])
        attributes = f'<Attributes><Attribute Name="{kind}" Id="{layer_id}" Value=""/></Attributes>'
        return f'<Annotation Id="{layer_id}" Name="" Type="4">{attributes}<Regions>{region}</Regions></Annotation>'

    folder = tmp_path / "MoNuSAC_images_and_annotations" / "TCGA-5P-A9K0-01Z-00-DX1"
    folder.mkdir(parents=True)
    for k, ids in enumerate(((1, 2), (3, 1))):  # the same types under other layer ids in the second image
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(folder / f"TCGA-5P-A9K0-01Z-00-DX1_{k + 1}.tif")
        layers = layer("Epithelial", ids[0], (1, 1)) + layer("Lymphocyte", ids[1], (11, 11))
        (folder / f"TCGA-5P-A9K0-01Z-00-DX1_{k + 1}.xml").write_text(f"<Annotations>{layers}</Annotations>")
    dataset = Dataset.load(tmp_path)
    assert dataset.value_names == {0: "background", 1: "Epithelial", 2: "Lymphocyte"}
    for case in dataset.cases:
        mask = dataset.read(case).mask[0]
        assert (mask[3, 3], mask[14, 14], mask[9, 9]) == (1, 2, 0), case.case_id


def _asap(groups: list[tuple[str, str, list[tuple[int, int]]]]) -> str:
    """An ASAP XML: ``(type, group, corners)`` per annotation, its coordinates listed out of order."""
    annotations = []
    for number, (kind, group, corners) in enumerate(groups):
        points = "".join(
            f'<Coordinate Order="{order}" X="{x}" Y="{y}"/>' for order, (x, y) in reversed(list(enumerate(corners)))
        )
        annotations.append(
            f'<Annotation Name="Annotation {number}" Type="{kind}" PartOfGroup="{group}" Color="#F4FA58">'
            f"<Coordinates>{points}</Coordinates></Annotation>"
        )
    return (
        '<?xml version="1.0"?><ASAP_Annotations><Annotations>'
        + "".join(annotations)
        + '</Annotations><AnnotationGroups><Group Name="_0" PartOfGroup="None" Color="#ff0000"><Attributes/></Group>'
        "</AnnotationGroups></ASAP_Annotations>"
    )


def test_asap_outlines_are_drawn_and_images_without_one_are_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Camelyon16's ``lesion_annotations/tumor_001.xml`` (ASAP: ``<Coordinate Order= X= Y=>``, groups ``_0``/``_1``
    metastases, ``_2`` normal tissue inside them): read as ImageScope's, no point was seen and every mask was empty;
    the ``normal/`` slides without an outline were left out without a word."""
    import logging

    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "CAMELYON16" / "training"
    square, inner, dot = [(4, 4), (28, 4), (28, 28), (4, 28)], [(12, 12), (20, 12), (20, 20), (12, 20)], [(36, 36)]
    for number in (1, 2):
        (root / "tumor").mkdir(parents=True, exist_ok=True)
        (root / "lesion_annotations").mkdir(exist_ok=True)
        Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(root / "tumor" / f"tumor_00{number}.tif")
        outlines = [("Polygon", "_0", square), ("Polygon", "_2", inner), ("Dot", "_1", dot)]
        (root / "lesion_annotations" / f"tumor_00{number}.xml").write_text(_asap(outlines))
    (root / "normal").mkdir()
    Image.fromarray(np.full((40, 40, 3), 180, np.uint8)).save(root / "normal" / "normal_001.tif")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(root)
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 2
    assert dataset.value_names == {0: "background", 1: "metastases"}
    mask = dataset.read(dataset.cases[0]).mask[0]
    assert mask[6, 6] == 1 and mask[16, 16] == 0 and mask[36, 36] == 0  # the outline, its hole; a dot draws nothing
    assert "1 image(s) have no mask and are not used (e.g. normal/normal_001.tif)" in caplog.text
