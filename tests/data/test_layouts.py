"""Dataset layouts: the registry contract, detection of each layout, task conflicts and unlabelled pools."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.case import Box, Case, SegCase
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import LAYOUTS, Layout, detect_layout, get_layout, layout_names, select_layout
from medimg.data.splits import make_splits
from medimg.errors import ConfigError, DatasetError
from tests.conftest import shared_data, write_npz
from tests.data.test_bids_masks import write_isles
from tests.data.test_brain_tumour_mat import write_cjdata
from tests.data.test_case_masks import write_wmh
from tests.data.test_cbis_ddsm import write_cbis_ddsm
from tests.data.test_cell_tracking import write_cell_tracking
from tests.data.test_cine_frames import write_mnms
from tests.data.test_cvat import SHAPES, write_cvat
from tests.data.test_ddti_xml import write_ddti
from tests.data.test_detection_layouts import DETECTION_SAMPLES
from tests.data.test_hdf5_arrays import write_pcam
from tests.data.test_imagej_rois import write_roi_sets
from tests.data.test_imagescope_masks import write_monuseg
from tests.data.test_label_lists import write_covidx
from tests.data.test_label_studio import POLYGON_AND_ELLIPSE, result, write_export
from tests.data.test_labelme import LESION_IN_ORGAN, write_labelme
from tests.data.test_lidc_xml import write_lidc
from tests.data.test_matlab_masks import write_consep
from tests.data.test_mura import write_mura
from tests.data.test_pannuke import write_pannuke
from tests.data.test_qupath import FEATURES, write_tiles
from tests.data.test_rle_masks import write_uw_madison
from tests.data.test_saved_arrays import write_synapse
from tests.data.test_structure_folders import write_idrid
from tests.data.test_world_boxes import write_luna
from tests.tasks.detect.synthetic import write_coco, write_yolo


def _png(path: Path, value: int = 0, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _images_and_masks(root: Path, images: str = "images", masks: str = "masks", n: int = 3) -> Path:
    for i in range(n):
        _png(root / images / f"case_{i}.png", 10 * i)
        _png(root / masks / f"case_{i}.png", 255 * (i % 2))
    return root


def _class_folders(root: Path) -> Path:
    for cls in ("normal", "tumour"):
        for i in range(2):
            _png(root / cls / f"{cls}_{i}.png", 50 if cls == "tumour" else 0)
    return root


def _csv_manifest(root: Path) -> Path:
    for i in range(4):
        _png(root / "img" / f"{i}.png", 10 * i)
    rows = ["path,label"] + [f"img/{i}.png,{'tumour' if i % 2 else 'normal'}" for i in range(4)]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def _mimic_cxr(root: Path) -> Path:
    """MIMIC-CXR-JPG's shape: ``files/pXX/p<subject>/s<study>/<dicom>.jpg`` with the split and CheXpert tables."""
    rows = ["dicom_id,study_id,subject_id,split"]
    labels = ["subject_id,study_id,Edema,Pneumonia,No Finding"]
    for i in range(4):
        subject, study = f"1000000{i}", f"5000000{i}"
        _png(root / "files" / "p10" / f"p{subject}" / f"s{study}" / f"d{i}.jpg", 10 * i)
        rows.append(f"d{i},{study},{subject},{'train' if i < 3 else 'test'}")
        labels.append(f"{subject},{study},{['1.0,,', ',1.0,', ',,1.0', '1.0,-1.0,'][i]}")
    (root / "mimic-cxr-2.0.0-split.csv").write_text("\n".join(rows) + "\n")
    (root / "mimic-cxr-2.0.0-chexpert.csv").write_text("\n".join(labels) + "\n")
    return root


def _structure_masks(root: Path) -> Path:
    """TotalSegmentator's shape in 2D: ``<case>/image.png`` + ``<case>/segmentations/<structure>.png``."""
    for case in ("s0001", "s0002"):
        _png(root / case / "image.png", 40)
        _png(root / case / "segmentations" / "heart.png", 255)
        _png(root / case / "segmentations" / "lung.png", 0)
    return root


def _named_structure_masks(root: Path) -> Path:
    """EDD2020's shape: ``originalImages/<id>.jpg`` + ``masks/<id>_<class>.tif``, a mask per class the image shows."""
    for case, classes in (("a1", ("BE", "polyp")), ("a2", ("BE",)), ("a3", ("polyp", "HGD"))):
        _png(root / "originalImages" / f"{case}.png", 40)
        for name in classes:
            _png(root / "masks" / f"{case}_{name}.png", 255)
    return root


def _rtstruct(root: Path) -> Path:
    """TCIA's radiotherapy shape: ``<patient>/<study>/<CT series>/`` beside ``<study>/<RTSTRUCT series>/1-1.dcm``."""
    from tests.data.test_dicom_masks import _patient

    _patient(root, "P1", (8, 20, 15, 29))
    return root


#: One synthetic sample per registered layout: a new layout must add its own (the contract test checks).
SAMPLES: dict[str, Callable[[Path], Path]] = {
    "image_mask_pairs": _images_and_masks,
    "structure_masks": _structure_masks,
    "named_structure_masks": _named_structure_masks,
    "imagescope_masks": write_monuseg,
    "dicom_masks": _rtstruct,
    "labelme_masks": lambda root: write_labelme(root, LESION_IN_ORGAN),
    "labelme_boxes": lambda root: write_labelme(
        root, [{"label": "a", "points": [[1, 1], [9, 9]], "shape_type": "rectangle"}]
    ),
    "cvat_masks": lambda root: write_cvat(root, SHAPES),
    "cvat_boxes": lambda root: write_cvat(root, '<box label="a" xtl="1" ytl="1" xbr="9" ybr="9" z_order="0"/>'),
    "label_studio_masks": lambda root: write_export(root, POLYGON_AND_ELLIPSE),
    "label_studio_boxes": lambda root: write_export(
        root, [result("rectanglelabels", "a", x=5, y=5, width=20, height=20)]
    ),
    "imagej_masks": write_roi_sets,
    "imagej_boxes": write_roi_sets,
    "ddti_masks": write_ddti,
    "ddti_boxes": write_ddti,
    "qupath_masks": lambda root: write_tiles(root, FEATURES),
    "qupath_boxes": lambda root: write_tiles(root, FEATURES),
    "brain_tumour_classes": lambda root: (write_cjdata(root, n=6), root)[1],
    "brain_tumour_masks": lambda root: (write_cjdata(root, n=6), root)[1],
    "cell_tracking": lambda root: write_cell_tracking(root, frames=4),
    "pannuke": lambda root: (write_pannuke(root, folds=(1,), n=2), root)[1],
    "saved_arrays": write_synapse,
    "cine_frames": write_mnms,
    "matlab_masks": lambda root: (write_consep(root, per_split=2), root / "CoNSeP")[1],
    "rle_masks": lambda root: (write_uw_madison(root, ((31, 40),), cases=2), root)[1],
    "structure_folders": write_idrid,
    "world_boxes": write_luna,
    "class_folders": _class_folders,
    "csv_manifest": _csv_manifest,
    "medmnist": lambda root: write_npz(_mkdir(root) / "pneumoniamnist.npz", n=(6, 2, 2)),
    "mimic_cxr": _mimic_cxr,
    "cbis_ddsm": write_cbis_ddsm,
    "cbis_ddsm_masks": write_cbis_ddsm,
    "cbis_ddsm_boxes": write_cbis_ddsm,
    "mura": write_mura,
    "bids_masks": write_isles,
    "case_masks": write_wmh,
    "label_lists": write_covidx,
    "lidc_masks": write_lidc,
    "lidc_boxes": write_lidc,
    "hdf5_arrays": lambda root: (write_pcam(root / "pcam"), root)[1],
    "mask_boxes": _images_and_masks,  # derived: boxes from the masks, read so only for task="detect"
    "coco_masks": lambda root: write_coco(root, n=4, outlines=True),  # derived: masks drawn from COCO outlines
    "yolo_masks": lambda root: write_yolo(root, n=4, outlines=True),  # derived: masks drawn from YOLO polygons
    **DETECTION_SAMPLES,
}


# --------------------------------------------------------------------------------------------- registry contract
def test_every_layout_has_a_sample_and_names_are_unique() -> None:
    assert sorted(layout_names()) == sorted(SAMPLES)
    assert len(set(layout_names())) == len(LAYOUTS)
    # image/mask pairs are tried before the generic class folders
    assert layout_names().index("image_mask_pairs") < layout_names().index("class_folders")


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_layout_contract(layout: Layout, tmp_path: Path) -> None:
    assert layout.task in ("classify", "segment", "detect")
    assert layout.description
    assert get_layout(layout.name) is layout
    assert next(iter(inspect.signature(layout.load).parameters)) == "path"
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(inspect.signature(layout.load).parameters.values())[1:]
    )
    # detect is cheap and total: never raises, answers False for what it cannot be
    assert layout.detect(tmp_path / "missing") is False
    (tmp_path / "notes.txt").write_text("not a dataset")
    assert layout.detect(tmp_path / "notes.txt") is False
    sample = SAMPLES[layout.name](tmp_path / "sample")
    assert layout.detect(sample) is True
    # a derived layout (boxes from masks) is chosen only when its task is asked for, never by detection alone
    assert (select_layout(sample) is layout) is not layout.derived and select_layout(sample, layout.task) is layout
    dataset = Dataset.load(sample, task=layout.task) if layout.derived else Dataset.load(sample)
    assert dataset.task == layout.task and len(dataset.cases) > 0
    assert dataset.describe()["task"] == layout.task
    forced = Dataset.load(sample, layout=layout.name, task=layout.task)
    assert type(forced) is type(dataset) and len(forced.cases) == len(dataset.cases)


# --------------------------------------------------------------------------------------------- detection
@pytest.mark.parametrize(("images", "masks"), [("images", "masks"), ("images", "labels"), ("imagesTr", "labelsTr")])
def test_image_mask_folders_are_segmentation_not_two_classes(tmp_path: Path, images: str, masks: str) -> None:
    root = _images_and_masks(tmp_path / "set", images, masks)
    assert detect_layout(root) is get_layout("image_mask_pairs")
    ds = Dataset.load(root)
    assert isinstance(ds, SegmentationDataset) and ds.task == "segment"
    assert len(ds.cases) == 3 and all(c.mask is not None and c.mask.parent.name == masks for c in ds.cases)


def test_image_mask_folders_one_level_down(tmp_path: Path) -> None:
    """The MSD-style wrapper: ``set/TrainingSet/{images,labels}``."""
    root = tmp_path / "set"
    _images_and_masks(root / "TrainingSet", "images", "labels")
    ds = Dataset.load(root)
    assert isinstance(ds, SegmentationDataset) and len(ds) == 3


def test_nnunet_raw_data_pairs_channel_zero_images_with_their_labels(tmp_path: Path) -> None:
    root = tmp_path / "Dataset001_Liver"
    for case in ("liver_001", "liver_002"):
        _png(root / "imagesTr" / f"{case}_0000.png")
        _png(root / "labelsTr" / f"{case}.png", 255)
    _png(root / "imagesTs" / "liver_100_0000.png")
    ds = Dataset.load(root)
    assert isinstance(ds, SegmentationDataset)
    assert [(c.image.name, c.mask.name if c.mask else None) for c in ds.cases] == [
        ("liver_001_0000.png", "liver_001.png"),
        ("liver_002_0000.png", "liver_002.png"),
    ]
    assert ds.unlabelled == ["imagesTs/liver_100_0000.png"]
    _png(root / "imagesTr" / "liver_001_0001.png")  # a second channel in its own file: stacked on read
    (first, _) = Dataset.load(root).cases
    assert [p.name for p in first.channels] == ["liver_001_0001.png"]


def test_a_folder_of_several_described_sets_is_refused(tmp_path: Path) -> None:
    """The Decathlon's Task02_Heart/, Task03_Liver/... side by side, each with its dataset.json: read as one set of
    image/mask pairs, their label 1 (left atrium, liver) was one class, MRI and CT one input (status OK)."""
    import json

    for task, organ in (("Task02_Heart", "left atrium"), ("Task03_Liver", "liver")):
        for case in ("a_001", "a_002"):
            _png(tmp_path / task / "imagesTr" / f"{case}.png")
            _png(tmp_path / task / "labelsTr" / f"{case}.png", 255)
        labels = {"labels": {"0": "background", "1": organ}, "modality": {"0": "MRI"}}
        (tmp_path / task / "dataset.json").write_text(json.dumps(labels))
    with pytest.raises(DatasetError, match=r"holds 2 data sets, each with its own dataset.json .*Task02_Heart/"):
        Dataset.load(tmp_path)
    assert len(Dataset.load(tmp_path / "Task03_Liver").cases) == 2
    (tmp_path / "Task03_Liver" / "dataset.json").write_text(json.dumps({"name": "a run's record", "num_cases": 2}))
    assert len(Dataset.load(tmp_path, task="segment").cases) == 4  # one description only: read as before


def test_mask_suffix_files_beside_images(tmp_path: Path) -> None:
    for name in ("a", "b"):
        _png(tmp_path / "flat" / f"{name}.png")
        _png(tmp_path / "flat" / f"{name}_mask.png", 255)
        _png(tmp_path / "split" / "train" / f"{name}.png")
        _png(tmp_path / "split" / "train" / f"{name}_seg.png", 255)
    flat = Dataset.load(tmp_path / "flat")
    assert isinstance(flat, SegmentationDataset) and [c.case_id for c in flat.cases] == ["a.png", "b.png"]
    split = Dataset.load(tmp_path / "split")
    assert isinstance(split, SegmentationDataset) and split.split_counts() == {"train": 2}


def test_csv_image_mask_manifest_is_segmentation(tmp_path: Path) -> None:
    _png(tmp_path / "i" / "p1.png")
    _png(tmp_path / "m" / "p1.png", 255)
    _png(tmp_path / "i" / "p2.png")
    (tmp_path / "pairs.csv").write_text("image,mask,split\ni/p1.png,m/p1.png,train\ni/p2.png,,train\n")
    ds = Dataset.load(tmp_path / "pairs.csv")
    assert isinstance(ds, SegmentationDataset) and ds.source == "csv"
    assert [c.case_id for c in ds.cases] == ["i/p1.png"] and ds.unlabelled == ["i/p2.png"]


def test_masks_inside_class_folders_stay_classification_unless_segment_is_asked(tmp_path: Path) -> None:
    """Herlev: ``<class>/<cell>.BMP`` with ``<cell>-d.bmp`` colour masks beside each image."""
    for cls in ("normal", "severe"):
        for i in range(2):
            _png(tmp_path / cls / f"{cls}{i}.bmp", 100)
            _png(tmp_path / cls / f"{cls}{i}-d.bmp", 200)
    ds = Dataset.load(tmp_path, exclude="*-d.bmp")
    assert isinstance(ds, Dataset) and ds.class_names == ["normal", "severe"] and len(ds) == 4
    seg = Dataset.load(tmp_path, task="segment")
    assert isinstance(seg, SegmentationDataset) and len(seg) == 4
    assert all(c.mask is not None and c.mask.name.endswith("-d.bmp") for c in seg.cases)


def test_a_training_split_beside_another_folder_of_image_and_label_folders_is_segmentation(tmp_path: Path) -> None:
    """KiPA22: ``train/image/1.png`` + ``train/label/1.png`` beside ``open/image/`` + ``open/label/`` (its open test
    set). Read as class folders "open" and "train" with their masks left out: a classifier of the splits, status OK."""
    for split, count in (("train", 4), ("open", 2)):
        for i in range(1, count + 1):
            _png(tmp_path / split / "image" / f"{i}.png", 100)
            _png(tmp_path / split / "label" / f"{i}.png", 255)
    ds = Dataset.load(tmp_path)
    assert isinstance(ds, SegmentationDataset) and len(ds) == 6 and not ds.unpaired


def test_an_image_named_for_its_class_letter_d_is_no_herlev_mask(tmp_path: Path) -> None:
    """FIVES: ``train/Original/1_D.png`` (D for diabetic retinopathy) beside ``train/Ground truth/1_D.png``. The
    Herlev ``-d`` rule took every ``_D`` file for a mask: the whole DR class was masks without an image."""
    for i, grade in enumerate("ADGN" * 2, start=1):
        _png(tmp_path / "FIVES" / "train" / "Original" / f"{i}_{grade}.png", 100)
        _png(tmp_path / "FIVES" / "train" / "Ground truth" / f"{i}_{grade}.png", 255)
    ds = Dataset.load(tmp_path / "FIVES")
    assert isinstance(ds, SegmentationDataset) and len(ds) == 8 and not ds.unpaired
    assert sorted(c.image.name for c in ds.cases if c.image.name.endswith("_D.png")) == ["2_D.png", "6_D.png"]


def test_pascal_voc_annotations_are_not_masks(tmp_path: Path) -> None:
    _png(tmp_path / "JPEGImages" / "a.png")
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text("<annotation/>")
    assert get_layout("image_mask_pairs").detect(tmp_path) is False


# --------------------------------------------------------------------------------------------- task choice
def test_task_conflict_is_a_clear_error(tmp_path: Path) -> None:
    root = _images_and_masks(tmp_path / "set")
    with pytest.raises(DatasetError, match=r"looks like segmentation data.*--task segment"):
        Dataset.load(root, task="classify")
    npz = write_npz(tmp_path / "pneumoniamnist.npz", n=(6, 2, 2))
    with pytest.raises(DatasetError, match=r"looks like classification data.*--task classify"):
        Dataset.load(npz, task="segment")
    with pytest.raises(DatasetError, match="reads segment data, not classify"):
        Dataset.load(root, task="classify", layout="image_mask_pairs")
    # BUS-BRA's bus_data.csv beside Images/ and Masks/: the refusal named no way to its classes
    (root / "bus_data.csv").write_text("ID,Pathology\nbus_0001-l,benign\n")
    with pytest.raises(DatasetError, match=r"classes from its table: medimg fit .*bus_data.csv --label-column COLUMN"):
        Dataset.load(root, task="classify")


def test_explicit_layout_and_task_pick_the_reader(tmp_path: Path) -> None:
    root = _images_and_masks(tmp_path / "set")
    as_classes = Dataset.load(root, layout="class_folders")
    assert isinstance(as_classes, Dataset) and as_classes.class_names == ["images", "masks"]
    assert isinstance(Dataset.load(root, task="segment"), SegmentationDataset)
    assert isinstance(Dataset.load(_class_folders(tmp_path / "cls"), task="classify"), Dataset)


def test_unknown_layout_task_and_option(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "cls")
    with pytest.raises(ConfigError, match="Did you mean 'class_folders'"):
        Dataset.load(root, layout="class_folder")
    with pytest.raises(ConfigError, match=r"unknown task 'classfy'.*'classify'"):
        Dataset.load(root, task="classfy")  # type: ignore[call-overload]
    with pytest.raises(ConfigError, match=r"no option 'unlabeled'.*'unlabelled'"):
        Dataset.load(root, unlabeled=True)
    with pytest.raises(ConfigError, match="medmnist layout has no option 'unlabelled'"):
        Dataset.load(write_npz(tmp_path / "x.npz", n=(6, 2, 2)), unlabelled=True)


def test_segmentation_options_pass_through(tmp_path: Path) -> None:
    root = _images_and_masks(tmp_path / "set")
    _png(root / "masks" / "orphan.png")
    with pytest.raises(DatasetError, match=r"orphan\.png"):
        Dataset.load(root, strict=True)
    ds = Dataset.load(root, task="segment", window=(40.0, 400.0))
    assert ds.window == (40.0, 400.0) and ds.options["window"] == [40.0, 400.0]
    assert ds.describe()["options"] == SegmentationDataset.load(root, window=(40.0, 400.0)).describe()["options"]


# --------------------------------------------------------------------------------------------- unlabelled pools
@pytest.mark.parametrize("missing", ["", "nan", "<NA>"])  # pandas writes a missing label as text these ways
def test_csv_rows_with_empty_label_are_unlabelled(tmp_path: Path, missing: str) -> None:
    labels = [missing if i % 5 == 4 else ("tumour" if i % 2 else "normal") for i in range(25)]
    for i in range(len(labels)):
        _png(tmp_path / "img" / f"{i}.png", 10 * i)
    rows = ["path,label,patient_id"] + [f"img/{i}.png,{lab},p{i}" for i, lab in enumerate(labels)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    ds = Dataset.load(tmp_path / "m.csv")
    assert isinstance(ds, Dataset) and ds.class_names == ["normal", "tumour"]
    assert len(ds.cases) == 20 and all(c.label is not None for c in ds.cases)
    assert [c.case_id for c in ds.unlabelled] == [f"img/{i}.png" for i in (4, 9, 14, 19, 24)]
    assert all(c.label is None and c.patient_id for c in ds.unlabelled)
    assert sum(ds.class_counts().values()) == 20 and ds.describe()["unlabelled_images"] == 5
    splits = make_splits(ds.cases)
    assert set(splits.assignment) == {c.case_id for c in ds.cases}


def test_csv_of_an_unlabelled_pool(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / f"{i}.png")
    (tmp_path / "empty.csv").write_text("path,label\n0.png,\n1.png,\n")
    with pytest.raises(DatasetError, match=r"all 2 images .* are unlabelled.*unlabelled=True"):
        Dataset.load(tmp_path / "empty.csv")
    pool = Dataset.load(tmp_path / "empty.csv", task="classify", unlabelled=True)
    assert pool.cases == [] and len(pool.unlabelled) == 2 and pool.class_names == []
    (tmp_path / "paths.csv").write_text("path\n0.png\n1.png\n2.png\n")
    with pytest.raises(DatasetError, match="no 'label' column"):
        Dataset.load(tmp_path / "paths.csv")
    assert len(Dataset.load(tmp_path / "paths.csv", task="classify", unlabelled=True).unlabelled) == 3


def test_folder_of_images_as_unlabelled_pool(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / "pool" / f"{i}.png")
    with pytest.raises(DatasetError, match=r"no class sub-folders.*--unlabelled FOLDER.*\(Python: unlabelled="):
        Dataset.load(tmp_path / "pool")
    pool = Dataset.load(tmp_path / "pool", task="classify", unlabelled=True)
    assert isinstance(pool, Dataset) and pool.cases == [] and pool.num_classes == 0
    assert [c.case_id for c in pool.unlabelled] == ["0.png", "1.png", "2.png"]
    assert pool.read(pool.unlabelled[0]).array.shape == (1, 8, 8)
    assert pool.options["unlabelled"] is True
    mixed = _class_folders(tmp_path / "mixed")
    _png(mixed / "loose.png")
    assert Dataset.load(mixed).unlabelled == []  # loose files are ignored unless asked for
    with_pool = Dataset.load(mixed, task="classify", unlabelled=True)
    assert len(with_pool.cases) == 4 and [c.case_id for c in with_pool.unlabelled] == ["loose.png"]


# --------------------------------------------------------------------------------------------- cases
@pytest.mark.parametrize("pool_name", ["unlabeled", "Unlabelled_Images", "no_label"])
def test_a_pool_folder_beside_the_labelled_classes_is_no_class(tmp_path: Path, pool_name: str) -> None:
    """A semi-supervised set's ``labeled/<class>/`` + ``unlabeled/``, read from its top folder, was two classes,
    ``labeled`` and ``unlabeled`` (status OK): a classifier of labelled against unlabelled images."""
    labelled = _class_folders(tmp_path / "data" / "labeled")
    for i in range(3):
        _png(tmp_path / "data" / pool_name / f"{i}.png")
    with pytest.raises(DatasetError, match=rf"{pool_name}/ holds images without labels, not a class") as error:
        Dataset.load(tmp_path / "data")
    assert f"medimg fit {labelled} --unlabelled {tmp_path / 'data' / pool_name}" in str(error.value)
    assert Dataset.load(labelled).class_names == ["normal", "tumour"]  # the command's data: the two classes


def test_case_is_backwards_compatible_and_describes_masks_and_boxes() -> None:
    case = Case("a.png", 1, "train", "p1", Path("a.png"))
    assert case.mask is None and case.roi is None and case.boxes is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.label = 0  # type: ignore[misc]
    boxed = Case("b.png", None, boxes=(Box(1, 2, 10, 12, label=0),))
    assert boxed.boxes is not None and boxed.boxes[0].x2 == 10 and boxed.boxes[0].label == 0
    seg = SegCase("c.png", Path("c.png"), Path("c_mask.png"), roi=Path("c_fov.png"), split="test").as_case()
    assert seg.mask == Path("c_mask.png") and seg.roi == Path("c_fov.png") and seg.label is None


def test_data_package_does_not_import_tasks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, medimg.data.layouts, medimg.data.dataset, medimg.data.loading, medimg.data.quality; "
        "print(sorted(m for m in sys.modules if m.startswith('medimg.tasks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_real_msd_hippocampus_is_segmentation() -> None:
    ds = Dataset.load(shared_data("msd_hippocampus"))
    assert isinstance(ds, SegmentationDataset) and ds.task == "segment" and len(ds.cases) == 260
    with pytest.raises(DatasetError, match="looks like segmentation data"):
        Dataset.load(shared_data("msd_hippocampus"), task="classify")


@pytest.mark.parametrize("header", ["path,label", "image,mask", "path,x1,y1,x2,y2,label"])
def test_a_manifest_that_is_not_utf8_is_a_clear_error(tmp_path: Path, header: str) -> None:
    """Every manifest reader names the file and the fix instead of a UnicodeDecodeError traceback."""
    from medimg.data.dataset import Dataset
    from medimg.errors import DatasetError

    manifest = tmp_path / "bad.csv"
    manifest.write_bytes(header.encode() + b"\n\x81\x8d\x9d.png,a,b,c,d,e\n")  # neither UTF-8 nor Windows-1252
    with pytest.raises(DatasetError, match="not UTF-8"):
        Dataset.load(manifest)


def test_a_manifest_saved_by_excel_in_windows_1252_is_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Excel's plain "CSV" on a European Windows: semicolons, CRLF, and Windows-1252 (Röntgen, Lungenentzündung)."""
    from PIL import Image

    from medimg.data.dataset import Dataset

    rows = []
    for i in range(8):
        name = f"röntgen_{i}.png"
        Image.fromarray(np.full((8, 8), i * 20, np.uint8)).save(tmp_path / name)
        rows.append(f"{name};{'gesund' if i % 2 else 'Lungenentzündung'}\r\n")
    manifest = tmp_path / "export.csv"
    manifest.write_bytes(("path;label\r\n" + "".join(rows)).encode("cp1252"))
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(manifest)
    assert sorted(dataset.class_names) == ["Lungenentzündung", "gesund"] and len(dataset) == 8
    assert "Windows-1252" in caplog.text


@pytest.mark.parametrize(
    ("name", "encoding", "separator"),
    [
        ("export.txt", "utf-16", "\t"),
        ("export.csv", "utf-16", ","),
        ("export.tsv", "utf-16-be", "\t"),
        ("e.csv", "utf-32", ","),
    ],
)
def test_a_manifest_saved_as_unicode_text_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, encoding: str, separator: str
) -> None:
    """Excel's "Unicode Text (*.txt)": UTF-16 with a byte-order mark, tab-separated (it was read as Windows-1252
    and refused: "no 'path' column (found: ÿþp a t h)"); other tools write UTF-16 or UTF-32 CSVs."""
    from PIL import Image

    from medimg.data.dataset import Dataset

    rows = []
    for i in range(8):
        file = f"röntgen_{i}.png"
        Image.fromarray(np.full((8, 8), i * 20, np.uint8)).save(tmp_path / file)
        rows.append(f"{file}{separator}{'gesund' if i % 2 else 'Lungenentzündung'}\r\n")
    manifest = tmp_path / name
    text = f"path{separator}label\r\n" + "".join(rows)
    manifest.write_bytes(("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding))
    with caplog.at_level("WARNING"):
        dataset = Dataset.load(manifest)
    assert sorted(dataset.class_names) == ["Lungenentzündung", "gesund"] and len(dataset) == 8
    assert "Windows-1252" not in caplog.text


def test_a_text_file_that_is_no_table_is_no_dataset(tmp_path: Path) -> None:
    from medimg.data.dataset import Dataset
    from medimg.errors import DatasetError

    notes = tmp_path / "README.txt"
    notes.write_text("ISIC 2018, task 3: lesion diagnosis, 10,015 images\n")
    with pytest.raises(DatasetError, match="is not a dataset"):
        Dataset.load(notes)


@pytest.mark.parametrize(("name", "kind"), [("chest_xray.zip", "zip"), ("ph2.tar.gz", "tar"), ("data.7z", "7z")])
def test_a_downloaded_archive_is_refused_with_how_to_unpack_it(tmp_path: Path, name: str, kind: str) -> None:
    import io
    import tarfile
    import zipfile

    archive = tmp_path / name
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as handle:
            handle.writestr("chest_xray/NORMAL/a.png", b"x")
    elif kind == "tar":
        with tarfile.open(archive, "w:gz") as handle:
            handle.addfile(tarfile.TarInfo("ph2/a.bmp"), io.BytesIO(b""))
    else:
        archive.write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 32)
    with pytest.raises(DatasetError, match=f"is a {kind} archive, not a dataset: unpack it first") as error:
        Dataset.load(archive)
    assert str(archive) in str(error.value)


def test_a_nested_copy_of_the_class_folders_is_no_class(tmp_path: Path) -> None:
    """Kaggle's malaria cell images: ``cell_images/{Parasitized,Uninfected}/`` and a copy of both in
    ``cell_images/cell_images/``. The copy was a third class, ``cell_images``, of every image again."""
    for k in range(4):
        for label in ("Parasitized", "Uninfected"):
            for folder in (tmp_path / "cell_images", tmp_path / "cell_images" / "cell_images"):
                _png(folder / label / f"C{k}_cell.png", 40 * k + (label == "Uninfected"))
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["Uninfected", "Parasitized"] and len(dataset.cases) == 8
    assert not any("cell_images/cell_images" in c.case_id for c in dataset.cases)
