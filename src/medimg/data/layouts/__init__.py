"""Dataset layouts: one reader module per on-disk layout, and the registry :meth:`Dataset.load` consults.

Each layout module has ``detect(path) -> bool`` (cheap: folder and file names, a CSV header; never pixels) and
``load(path, **options)`` (paths and labels, no pixels). :data:`LAYOUTS` registers them with a name and the task
they serve:

====================  =========  ==========================================================================
name                  task       reads
====================  =========  ==========================================================================
``cine_frames``       segment    4D cine NIfTI + a 4D ``<name>_gt`` labelled at a few frames (M&Ms' ``_sa`` +
                                 ``_sa_gt``): each labelled frame written once as a 3D case (cached)
``saved_arrays``      segment    an image and its label map as arrays in one ``.npz`` / HDF5 file per slice or volume
                                 (TransUNet's Synapse ``train_npz/`` + ``test_vol_h5/``, SSL4MIS's ACDC ``.h5``)
``bids_masks``        segment    BIDS scans with their masks as derivatives or beside them (ISLES 2022's ``rawdata/`` +
                                 ``derivatives/..._msk.nii.gz``): the subject's scans on the mask's grid as channels
``structure_masks``   segment    one folder per case: its image + ``segmentations/<structure>.nii.gz``, one
                                 binary mask per structure (TotalSegmentator, AbdomenAtlas), or ``images/`` +
                                 ``masks/``, one per object (Data Science Bowl 2018 nuclei)
``case_masks``        segment    one folder per case: its mask the one NIfTI at the top, its scans in a sub-folder
                                 (WMH 2017's ``wmh.nii.gz`` + ``pre/FLAIR.nii.gz``, ``pre/T1.nii.gz`` as channels)
``brain_tumour_classes`` classify  the figshare brain tumour set's ``cjdata`` ``.mat`` files: slices written once as
                                 PNG (cached), the three tumour classes, patients from ``PID``
``brain_tumour_masks``  segment   the same files: the tumour masks
``pannuke``           segment    PanNuke's folds as shipped (``images.npy`` + ``masks.npy`` per fold), written once as
                                 image and mask files (cached); the three folds as train/val/test. CoNIC's
                                 ``images.npy`` + ``labels.npy`` (instance and class maps): its class maps
``image_mask_pairs``  segment    ``images/`` + ``masks/`` (or ``labels/``, ``imagesTr``/``labelsTr``, DRIVE,
                                 ISIC), ``<name>_mask.png`` beside ``<name>.png``, CSV ``image,mask``
``structure_folders`` segment    a ground-truth folder of one mask folder per structure (IDRiD's ``2. All Segmentation
                                 Groundtruths/a. Training Set/1. Microaneurysms/``, JSRT's SCR ``masks/heart/``)
``imagescope_masks``  segment    Aperio ImageScope XML outlines (MoNuSeg's ``Annotations/*.xml``) drawn into label
                                 maps (cached), one XML per image by name
``labelme_masks``     segment    LabelMe JSON per image (polygons, circles, rectangles), drawn into label maps (cached)
``labelme_boxes``     detect     LabelMe JSON per image: each shape's bounding box (rectangles alone: by itself)
``cvat_masks``        segment    CVAT's own XML export (``annotations.xml`` + ``images/``): polygons, ellipses, masks,
                                 boxes drawn into label maps (cached)
``cvat_boxes``        detect     the same XML: each shape's bounding box (boxes alone: by itself)
``label_studio_masks`` segment    Label Studio's JSON export (polygons, rotated rectangles, ellipses in percent) drawn
                                 into label maps (cached)
``label_studio_boxes`` detect     the same export: each shape's bounding box (rectangles alone: by itself)
``imagej_masks``      segment    ImageJ / Fiji ROI sets (``RoiSet.zip`` of ``.roi`` files, or one ``.roi``) beside their
                                 images: polygons, freehand outlines, rectangles, ovals drawn into label maps (cached)
``imagej_boxes``      detect     the same ROIs' boxes (derived: asked with ``task="detect"``)
``ddti_masks``        segment    DDTI's case XMLs (``xml/<n>.xml`` beside ``image/<n>_<k>.jpg``): each image's nodule
                                 outline drawn into a mask (cached)
``ddti_boxes``        detect     the same files: each outline's bounding box (derived: asked with ``task="detect"``)
``qupath_masks``      segment    QuPath's GeoJSON per image (annotations, cells: polygons with holes) drawn into label
                                 maps (cached)
``qupath_boxes``      detect     the same files: each object's bounding box (derived: asked with ``task="detect"``)
``matlab_masks``      segment    nuclei label maps in MATLAB ``.mat`` files beside their images (CoNSeP, Lizard, Kumar
                                 and CPM-17 as HoVer-Net redistributed them), written once as masks (cached)
``dicom_masks``       segment    DICOM RT structure sets (``RTSTRUCT``, TCIA's radiotherapy collections) and SEG
                                 objects (Imaging Data Commons) as label maps on the series each names (cached)
``rle_masks``         segment    a CSV of run-length encoded masks (Kaggle's ``ImageId,EncodedPixels``, UW-Madison's
                                 ``id,class,segmentation``), drawn into label maps (cached)
``class_folders``     classify   ``<class>/<images>``, optionally in ``train``/``val``/``test`` folders
``csv_manifest``      classify   CSV ``path,label[,patient_id,split]`` (empty label = unlabelled image)
``medmnist``          classify   MedMNIST v2 ``.npz`` with its official split
``mimic_cxr``         classify   MIMIC-CXR-JPG: ``files/`` + its split and CheXpert tables (multi-label, per study)
``cbis_ddsm``         classify   CBIS-DDSM: its ``*_case_description_*_set.csv`` tables + the mammograms as TCIA or
                                 Kaggle ship them (benign / malignant per mammogram)
``cbis_ddsm_masks``   segment    the same mammograms with their abnormalities' ROI masks (mass, calcification)
``cbis_ddsm_boxes``   detect     the same masks' regions as boxes (lesion detection)
``mura``              classify   MURA: ``*_labeled_studies.csv`` + study folders (normal / abnormal per study)
``label_lists``       classify   headerless text lists per split, a line per image: ``[patient] <name> <class> ...``
                                 (COVIDx's ``train.txt``, ``test.txt`` beside ``train/``, ``test/``)
``lidc_masks``        segment    LIDC-IDRI: CT series + their readers' XML nodule outlines (50% consensus, cached)
``lidc_boxes``        detect     the same consensus nodules as 3D boxes
``hdf5_arrays``       classify   HDF5 image/label arrays: PatchCamelyon's ``*_{train,valid,test}_{x,y}.h5``, or one file
                                 named as an ``.npz``
``voc``               detect     Pascal VOC ``Annotations/*.xml`` + ``JPEGImages/`` (``ImageSets/Main`` split)
``coco``              detect     COCO JSON (``annotations/instances_*.json`` or a ``.json`` file)
``csv_boxes``         detect     CSV ``path,x1,y1,x2,y2,label[,split,patient_id]``, one row per box
``world_boxes``       detect     LUNA16's ``annotations.csv`` (``seriesuid``, centre in scanner mm, diameter) + its
                                 ``<seriesuid>.mhd`` scans: 3D boxes through each scan's header
``yolo``              detect     YOLO ``images/`` + ``labels/*.txt`` (per split: Roboflow's and Ultralytics' folders)
``mask_boxes``        detect     the image/mask pairs above, one box per connected component of each mask
                                 label (2D or 3D), only when ``task="detect"`` is asked for
``coco_masks``        segment    COCO ``segmentation`` outlines drawn into label maps (cached), only when
                                 ``task="segment"`` is asked for
``yolo_masks``        segment    YOLO segmentation polygons drawn into label maps (cached), the same way
====================  =========  ==========================================================================

Choosing a layout (:func:`select_layout`): registration order decides ties, so specific layouts come before generic
ones (image/mask pairs before class folders, whose ``detect`` accepts any folder with sub-folders). Without a task
the first layout that detects the path reads it, except that class folders keeping masks beside their images
(``<class>/images`` + ``<class>/masks``: the COVID-19 Radiography Database) are classes, as :func:`data_task` says
(``medimg fit`` and ``medimg check`` without ``--task``). With a task, a detecting layout of that task is used; a
layout that *derives* that task's annotations from another task's (``mask_boxes``: boxes from masks) reads a path
another task's layout claims; a box table with a label column asked for as classes is a label table (RSNA's
``Target`` beside its boxes); otherwise a path claimed by a layout of another task is a conflict
(:class:`~medimg.errors.DatasetError` naming the task it looks like), except the class-folder layout
(``exclusive=False``): class folders may hold masks beside the images (Herlev's ``*-d.bmp``), which
``task="segment"`` pairs by name; so may a folder read through its label table (``shares_folders``: HAM10000's
metadata CSV beside its lesion masks). When no layout detects a folder, the task's first layout (class folders when no
task is given; structure masks never: they only read what they detect) reads it and explains what it expected.

Adding a layout is one module plus one line in :data:`LAYOUTS`. The detection readers (Pascal VOC, COCO, CSV
boxes) fill :attr:`~medimg.data.case.Case.boxes` and register before the generic class folders (a VOC or COCO
folder has sub-folders too) and the CSV box manifest before the generic CSV manifest.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medimg.data.layouts import (
    bids_masks,
    brain_tumour_mat,
    case_masks,
    cbis_ddsm,
    cell_tracking,
    cine_frames,
    class_folders,
    class_nesting,
    coco,
    coco_masks,
    csv_boxes,
    csv_manifest,
    cvat,
    ddti_xml,
    dicom_masks,
    hdf5_arrays,
    image_mask_pairs,
    imagej_rois,
    imagescope_masks,
    label_lists,
    label_studio,
    labelme,
    lidc_xml,
    mask_boxes,
    matlab_masks,
    medmnist,
    mimic_cxr,
    mura,
    named_structure_masks,
    pannuke,
    qupath,
    rle_masks,
    saved_arrays,
    structure_folders,
    structure_masks,
    voc,
    world_boxes,
    yolo,
    yolo_masks,
)
from medimg.data.layouts.common import OTHER_SPREADSHEETS, json_labels_note, visible_dir
from medimg.data.layouts.outlined_shapes import AnnotationTool
from medimg.errors import ConfigError, DatasetError, OtherTaskDataError, did_you_mean
from medimg.io.formats import ZIP_MAGIC, unread_files_note
from medimg.io.inputs import shell_quoted

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from medimg.data.case import TaskName
    from medimg.data.dataset import Dataset, SegmentationDataset

TASK_WORDS = {"classify": "classification", "segment": "segmentation", "detect": "detection"}


@dataclass(frozen=True)
class Layout:
    """One registered dataset layout.

    Attributes:
        name: registry name (``"image_mask_pairs"``), accepted by ``Dataset.load(path, layout=...)``.
        task: the task its datasets serve (``"classify"``, ``"segment"`` or ``"detect"``).
        detect: ``detect(path) -> bool``, cheap: reads names and headers, never pixels.
        load: ``load(path, **options)`` returning a dataset of ``task`` (no pixels read).
        description: what it reads, for messages.
        exclusive: a path this layout detects cannot be read for another task (a conflict); ``False`` for
            generic layouts that may hold other annotations too (class folders with masks beside the images).
        derived: the layout derives its task's annotations from another task's data (boxes from masks): it is
            never chosen by detection alone, only when its task is asked for.
        fallback: the layout may read a folder no layout detects (to explain what it expected) when it is the
            first of its task; ``False`` for a layout that only reads what it detects (structure masks).
        shares_folders: a folder it detects (not a file) may hold another task's annotations too: a label table
            beside the images (HAM10000's metadata CSV beside its lesion masks), as class folders may.
        detect_asked: ``detect_asked(path) -> bool``, a wider detection used only when the layout's task is asked
            for (a box table beside a folder's class table), or ``None``.
    """

    name: str
    task: TaskName
    detect: Callable[[Path], bool]
    load: Callable[..., Dataset | SegmentationDataset]
    description: str
    exclusive: bool = True
    derived: bool = False
    fallback: bool = True
    shares_folders: bool = False
    detect_asked: Callable[[Path], bool] | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """Keyword options of :attr:`load` (everything after the path)."""
        return tuple(list(inspect.signature(self.load).parameters)[1:])

    def claims(self, path: Path) -> bool:
        """Whether ``path``, which this layout detects, cannot be read for another task (see :attr:`exclusive`)."""
        return self.exclusive and not (self.shares_folders and path.is_dir())

    def check_options(self, options: dict[str, Any]) -> None:
        """Raise :class:`ConfigError` (with close matches) for an option :attr:`load` does not take."""
        for key in options:
            if key not in self.options:
                accepted = ", ".join(self.options) or "none"
                raise ConfigError(
                    f"the {self.name} layout has no option {key!r}.{did_you_mean(key, self.options)} "
                    f"Its options: {accepted}."
                )


def _tool_layouts(
    name: str, tool: AnnotationTool, masks: str, boxes: str, *, boxes_asked: bool = False
) -> tuple[Layout, Layout]:
    """An annotation tool's two layouts: ``<name>_masks`` (its shapes drawn) and ``<name>_boxes`` (their boxes), each
    read for the other's task too (neither claims the path for itself alone). ``boxes_asked``: the tool's files are
    segmentation data by themselves (QuPath's and ImageJ's rectangles are polygons too), their boxes read only when
    detection is asked for."""
    return (
        Layout(f"{name}_masks", "segment", tool.detect_masks, tool.load_masks, masks, exclusive=False, fallback=False),
        Layout(
            f"{name}_boxes",
            "detect",
            tool.detect_boxes,
            tool.load_boxes,
            boxes,
            derived=boxes_asked,
            exclusive=False,
            fallback=False,
        ),
    )


#: Every layout, in detection order (specific before generic; per task, the first one is the task's default).
LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "lidc_masks",
        "segment",
        lidc_xml.detect,
        lidc_xml.load,
        "LIDC-IDRI CT series with their readers' XML nodule outlines (consensus masks)",
        fallback=False,
    ),
    Layout(
        "lidc_boxes",
        "detect",
        lidc_xml.detect,
        lidc_xml.load_boxes,
        "LIDC-IDRI's consensus nodules as 3D boxes",
        derived=True,
        fallback=False,
    ),
    Layout(
        "mura",
        "classify",
        mura.detect,
        mura.load,
        "MURA's study tables and radiographs (normal / abnormal)",
        fallback=False,
    ),
    Layout(
        "label_lists",
        "classify",
        label_lists.detect,
        label_lists.load,
        "headerless label lists per split (COVIDx's train.txt, test.txt: patient, image name, class)",
        exclusive=False,
        fallback=False,
    ),
    Layout(
        "cbis_ddsm",
        "classify",
        cbis_ddsm.detect,
        cbis_ddsm.load,
        "CBIS-DDSM's case tables and mammograms (benign / malignant per mammogram)",
        fallback=False,
    ),
    Layout(
        "cbis_ddsm_masks",
        "segment",
        cbis_ddsm.detect,
        cbis_ddsm.load_masks,
        "CBIS-DDSM's mammograms with their ROI masks (mass, calcification)",
        derived=True,  # the tables' pathology is what the set says without a task; masks when segmentation is asked
        fallback=False,
    ),
    Layout(
        "cbis_ddsm_boxes",
        "detect",
        cbis_ddsm.detect,
        cbis_ddsm.load_boxes,
        "CBIS-DDSM's mammograms with a box around each ROI mask region (mass, calcification)",
        derived=True,
        fallback=False,
    ),
    Layout("yolo", "detect", yolo.detect, yolo.load, "YOLO (images/ + labels/*.txt, Ultralytics and Roboflow)"),
    Layout(
        "brain_tumour_classes",
        "classify",
        brain_tumour_mat.detect,
        brain_tumour_mat.load_classes,
        "the figshare brain tumour set (cjdata .mat files): meningioma, glioma, pituitary, patients from PID",
        exclusive=False,
        fallback=False,
    ),
    Layout(
        "brain_tumour_masks",
        "segment",
        brain_tumour_mat.detect,
        brain_tumour_mat.load_masks,
        "the figshare brain tumour set (cjdata .mat files): the tumour masks",
        derived=True,  # the set's classes are what its files say without a task; masks when segmentation is asked
        fallback=False,
    ),
    Layout(
        "cell_tracking",
        "segment",
        cell_tracking.detect,
        cell_tracking.load,
        "a Cell Tracking Challenge set (01/t000.tif with 01_GT/SEG/man_seg000.tif): cells, sequences kept together",
        fallback=False,
    ),
    Layout(
        "pannuke",
        "segment",
        pannuke.detect,
        pannuke.load,
        "PanNuke's folds (images.npy + masks.npy of nucleus types), written once as images and masks",
        fallback=False,
    ),
    Layout(
        "cine_frames",
        "segment",
        cine_frames.detect,
        cine_frames.load,
        "4D cine NIfTI with a 4D ground truth labelled at a few frames (M&Ms): each labelled frame a 3D case",
        fallback=False,
    ),
    Layout(
        "saved_arrays",
        "segment",
        saved_arrays.detect,
        saved_arrays.load,
        "image + label arrays per slice or volume in .npz / HDF5 files (TransUNet's Synapse, SSL4MIS's ACDC)",
        fallback=False,
    ),
    Layout(
        "bids_masks",
        "segment",
        bids_masks.detect,
        bids_masks.load,
        "BIDS scans (rawdata/ or sub-*/) with their masks (derivatives/..._msk.nii.gz, ..._mask.nii.gz)",
        fallback=False,
    ),
    Layout(
        "structure_masks",
        "segment",
        structure_masks.detect,
        structure_masks.load,
        "several mask files per case folder (segmentations/<structure> files, or images/ + masks/ of objects)",
        fallback=False,
    ),
    Layout(
        "case_masks",
        "segment",
        case_masks.detect,
        case_masks.load,
        "one folder per case: the mask at its top, the scans on its grid in a sub-folder (WMH 2017)",
        fallback=False,
    ),
    Layout(
        "named_structure_masks",
        "segment",
        named_structure_masks.detect,
        named_structure_masks.load,
        "one mask per structure in a folder of masks, named <image>_<structure> (EDD2020, ISIC 2018's attributes)",
        fallback=False,
    ),
    Layout(
        "image_mask_pairs",
        "segment",
        image_mask_pairs.detect,
        image_mask_pairs.load,
        "image/mask pairs (images/ + masks/ or labels/ folders, *_mask files, CSV image,mask)",
    ),
    Layout(
        "structure_folders",
        "segment",
        structure_folders.detect,
        structure_folders.load,
        "one folder of masks per structure in a ground-truth folder (IDRiD, JSRT's SCR masks)",
        fallback=False,
    ),
    Layout(
        "imagescope_masks",
        "segment",
        imagescope_masks.detect,
        imagescope_masks.load,
        "Aperio ImageScope XML outlines drawn into masks (MoNuSeg: Tissue Images/ + Annotations/*.xml)",
        fallback=False,
    ),
    *_tool_layouts(
        "labelme",
        labelme.LABELME,
        "LabelMe JSON outlines (polygons, circles) drawn into masks, one JSON per image",
        "LabelMe JSON shapes as boxes (rectangles), one JSON per image",
    ),
    *_tool_layouts(
        "cvat",
        cvat.CVAT,
        "CVAT for images XML (annotations.xml + images/): polygons, ellipses and masks drawn into masks",
        "CVAT for images XML (annotations.xml + images/): each shape's box",
    ),
    *_tool_layouts(
        "label_studio",
        label_studio.LABEL_STUDIO,
        "Label Studio JSON export: polygons and ellipses drawn into masks",
        "Label Studio JSON export: each shape's box (rectangles)",
    ),
    *_tool_layouts(
        "imagej",
        imagej_rois.IMAGEJ,
        "ImageJ / Fiji ROI sets (RoiSet.zip, .roi) beside the images drawn into masks",
        "ImageJ / Fiji ROI sets beside the images: each outline's box",
        boxes_asked=True,
    ),
    *_tool_layouts(
        "ddti",
        ddti_xml.DDTI,
        "DDTI's case XMLs (xml/<n>.xml beside image/<n>_<k>.jpg): each image's nodule outline drawn into a mask",
        "DDTI's case XMLs: each nodule outline's box",
        boxes_asked=True,
    ),
    *_tool_layouts(
        "qupath",
        qupath.QUPATH,
        "QuPath GeoJSON per image: annotations and cells drawn into masks",
        "QuPath GeoJSON per image: each object's box",
        boxes_asked=True,
    ),
    Layout(
        "matlab_masks",
        "segment",
        matlab_masks.detect,
        matlab_masks.load,
        "nuclei label maps in MATLAB .mat files beside their images (CoNSeP, Lizard: inst_map, type_map)",
        fallback=False,
    ),
    Layout(
        "dicom_masks",
        "segment",
        dicom_masks.detect,
        dicom_masks.load,
        "DICOM RT structure sets and SEG objects as masks on the series they annotate (TCIA, Imaging Data Commons)",
        fallback=False,
    ),
    Layout(
        "rle_masks",
        "segment",
        rle_masks.detect,
        rle_masks.load,
        "run-length encoded masks in a CSV (Kaggle: ImageId,EncodedPixels or id,class,segmentation)",
        fallback=False,
    ),
    Layout(
        "voc",
        "detect",
        voc.detect,
        voc.load,
        "Pascal VOC (Annotations/*.xml + JPEGImages/, or XML by images)",
        detect_asked=voc.detect_asked,
    ),
    Layout("coco", "detect", coco.detect, coco.load, "COCO detection JSON"),
    Layout(
        "world_boxes",
        "detect",
        world_boxes.detect,
        world_boxes.load,
        "findings in scanner millimetres with a diameter (LUNA16: annotations.csv + subset*/<seriesuid>.mhd)",
        fallback=False,
    ),
    Layout(
        "csv_boxes",
        "detect",
        csv_boxes.detect,
        csv_boxes.load,
        "CSV boxes path,x1,y1,x2,y2,label",
        detect_asked=csv_boxes.detect_asked,
    ),
    Layout(
        "mask_boxes",
        "detect",
        mask_boxes.detect,
        mask_boxes.load,
        "boxes derived from segmentation masks (one per connected component of each label)",
        derived=True,
        detect_asked=mask_boxes.detect_asked,
    ),
    Layout(
        "coco_masks",
        "segment",
        coco_masks.detect,
        coco_masks.load,
        "masks drawn from COCO segmentation (polygons, run-length masks)",
        derived=True,
    ),
    Layout(
        "yolo_masks",
        "segment",
        yolo_masks.detect,
        yolo_masks.load,
        "masks drawn from YOLO segmentation polygons",
        derived=True,
    ),
    Layout(
        "class_folders",
        "classify",
        class_folders.detect,
        class_folders.load,
        "one sub-folder per class",
        exclusive=False,
    ),
    Layout(
        "csv_manifest",
        "classify",
        csv_manifest.detect,
        csv_manifest.load,
        "CSV manifest path,label",
        shares_folders=True,
    ),
    Layout(
        "mimic_cxr", "classify", mimic_cxr.detect, mimic_cxr.load, "MIMIC-CXR-JPG (files/ + split and label tables)"
    ),
    Layout("medmnist", "classify", medmnist.detect, medmnist.load, "MedMNIST .npz"),
    Layout("hdf5_arrays", "classify", hdf5_arrays.detect, hdf5_arrays.load, "HDF5 image arrays (PatchCamelyon)"),
)


def layout_names() -> list[str]:
    """Registered layout names, in detection order."""
    return [layout.name for layout in LAYOUTS]


def get_layout(name: str) -> Layout:
    """The layout registered as ``name``; unknown names raise :class:`ConfigError` with close matches."""
    for layout in LAYOUTS:
        if layout.name == name.lower():
            return layout
    names = layout_names()
    raise ConfigError(f"unknown dataset layout {name!r}.{did_you_mean(name, names)} Available: {', '.join(names)}.")


def detect_layout(path: Path) -> Layout | None:
    """The first registered layout whose ``detect`` accepts ``path`` (derived layouts aside), or ``None``."""
    return next((layout for layout in LAYOUTS if not layout.derived and layout.detect(path)), None)


#: layouts reading a set's label table, or its images beside their masks, which a wrapper folder around the set
#: hides (:func:`data_root`; COVID-19-20's ``covid19-20/COVID-19-20_v2/Train/<case>_ct.nii.gz`` + ``_seg``: "has no
#: class sub-folders" through the wrapper; BCCD's ``dataset-master/dataset-master/`` of ``JPEGImages/`` +
#: ``Annotations/``: a single class, 'JPEGImages', through it)
WRAPPED_LAYOUTS = ("csv_manifest", "csv_boxes", "image_mask_pairs", "mimic_cxr", "voc", "coco", "yolo", "cell_tracking")


def data_root(path: Path, task: TaskName | None = None) -> Path:
    """``path``, or the folder inside the wrapper folders at ``path`` (:func:`class_nesting.wrapped_folder`) where
    that folder's label table or masks (:data:`WRAPPED_LAYOUTS`) label the images and the wrapper reads as nothing,
    as class folders or as the same layout: Kaggle's ``archive/<set>/`` holding the set's table beside its image
    folders, which read through the wrapper made the image folders the classes. Said once, with how ``task``'s
    reading (the data's own without one) takes it."""
    inner = class_nesting.wrapped_folder(path)
    if inner is None:
        return path
    found = detect_layout(inner)
    if found is None or found.name not in WRAPPED_LAYOUTS:
        return path
    if found.name == "image_mask_pairs" and class_nesting.folder_entries(inner)[1]:
        return path  # images of its own: the one class folder of a set (its masks among them), not a set inside
    outer = detect_layout(path)
    # (a Cell Tracking Challenge set's 01_GT/SEG/ read as image/mask pairs through its download folder: never so)
    if outer is not None and outer.name not in ("class_folders", found.name) and found.name != "cell_tracking":
        return path  # the same: the set's names are inside (MSD's Task04_Hippocampus/dataset.json, one folder below)
    if outer is not None and outer.name == found.name in ("voc", "coco", "yolo"):
        return path  # a box layout that reads its set one folder down itself (bccd/BCCD/Annotations/)
    # class folders keeping their masks are classes, unless a task that needs the masks is asked for
    read_as = found if task is not None and task == found.task else _classes_beside_masks(inner, found) or found
    logger.info(
        "%s: the data is in %s (the only folder, with nothing but documents beside it), read as %s",
        path,
        inner.relative_to(path),
        read_as.description,
    )
    return inner


def derived_layout(path: Path, task: TaskName) -> Layout | None:
    """The layout deriving ``task``'s annotations from the data at ``path`` when another task's layout detects it
    (boxes from masks, masks drawn from COCO or YOLO outlines), or ``None``."""
    detected = detect_layout(path)
    return None if detected is None or detected.task == task else deriving_layout(path, task)


def deriving_layout(path: Path, task: TaskName) -> Layout | None:
    """The layout deriving ``task``'s annotations from the data at ``path`` (whichever layout detects it), or
    ``None``."""
    return next((lay for lay in LAYOUTS if lay.derived and lay.task == task and lay.detect(path)), None)


def data_task(path: Path) -> tuple[TaskName, Layout | None]:
    """The task ``path``'s data serves by itself, and the layout that says so: the first layout detecting it
    (image/mask pairs: segmentation; VOC, COCO, CSV boxes: detection), else classification; class folders that
    keep masks beside their images (``<class>/images`` + ``<class>/masks``) are classes."""
    path = data_root(path)
    detected = detect_layout(path)
    return _own_task(path, detected), detected


def _own_task(path: Path, detected: Layout | None) -> TaskName:
    """The task of data ``path`` that ``detected`` (its first detecting layout) reads: classification when no
    layout detects it or when its class folders keep masks beside their images."""
    if detected is None or _classes_beside_masks(path, detected) is not None:
        return "classify"
    return detected.task


def _classes_beside_masks(path: Path, detected: Layout) -> Layout | None:
    """The classification layout of data read as image/mask pairs whose classes are its own task: class folders
    keeping masks beside their images (``class_folders``), or a label table at the top for more images than its
    masks folders hold (``csv_manifest``: :func:`_table_beside_few_masks`); else ``None``."""
    if detected.name != "image_mask_pairs":
        return None
    if class_folders.masks_inside_classes(path):
        return get_layout("class_folders")
    return get_layout("csv_manifest") if _table_beside_few_masks(path, detected) else None


def _table_beside_few_masks(path: Path, detected: Layout) -> bool:
    """Whether a folder read as image/mask pairs holds a label table at its top for its images (:func:`csv_manifest.
    folder_manifest`) whose rows are more than twice the files of its masks folders (UBC-OCEAN's ``train.csv``, the
    subtype of every slide, beside ``masks/`` for a few of them): its classes are the data's task, ``--task segment``
    reads the masks. Was: segmentation of the few images with masks, the table unread."""
    if detected.name != "image_mask_pairs" or not path.is_dir():
        return False
    table = csv_manifest.folder_manifest(path)
    if table is None:
        return False
    folders = [d for d in path.iterdir() if d.is_dir() and image_mask_pairs.folder_role(d.name) == "mask"]
    masks = sum(1 for folder in folders for f in folder.iterdir() if f.is_file())
    from medimg.data.layouts.common import read_manifest

    rows = len(read_manifest(table)[1])
    if not folders or masks * 2 >= rows:
        return False
    logger.info(
        "%s: %s labels %d images and %s holds masks for %d: read as the table's classes (--task segment reads the "
        "masks)",
        path,
        table.name,
        rows,
        ", ".join(f"{d.name}/" for d in folders),
        masks,
    )
    return True


def _box_table_with_classes(path: Path, detected: Layout) -> Layout | None:
    """The label-table layout for a box table asked for as classification when its rows also give the image's class
    (the RSNA Pneumonia Detection Challenge's ``patientId,x,y,width,height,Target``: Target 1 on each box of a
    pneumonia, 0 on a normal film's row): each image's class from that column, the boxes left unused (logged)."""
    if detected.name != "csv_boxes" or not path.is_file() or not csv_manifest.has_label_column(path):
        return None
    logger.info("%s: a box table read as classes, from its label column; its boxes are unused (--task detect)", path)
    return get_layout("csv_manifest")


def _class_folders_beside_boxes(path: Path, detected: Layout) -> bool:
    """Whether a folder read as boxes by the table at its top also holds class folders of images named as the
    table's box labels (Kvasir-Capsule's ``labelled_images/<class>/`` beside ``metadata.csv``, whose boxes cover
    some findings): asked for classes, those are read (it was "looks like detection data ... pass --task detect").
    Image folders of other names (RSNA's ``stage_2_train_images/``, ``stage_2_test_images/``) are no classes."""
    from medimg.data.layouts.class_nesting import data_folder, folder_entries
    from medimg.data.layouts.common import column_key, read_manifest

    if detected.name != "csv_boxes" or not path.is_dir():
        return False
    table = csv_boxes.top_manifest(path)
    if table is None:
        return False
    columns, rows = read_manifest(table)
    label = next((columns[c] for c in csv_boxes.LABEL_COLUMNS if c in columns), None)
    labels = {column_key(str(row.get(label) or "")) for row in rows} if label else set()
    subdirs, _ = folder_entries(data_folder(path, announce=False))
    classes = [d for d in subdirs if folder_entries(d)[1]]
    named = [d for d in classes if column_key(d.name) in labels]
    return len(classes) >= 2 and 2 * len(named) >= len(classes)


def select_layout(path: Path, task: TaskName | None = None) -> Layout:
    """The layout that reads ``path`` for ``task`` (see the module docstring for the rules).

    Raises:
        ConfigError: ``task`` is not a known task.
        OtherTaskDataError: the path looks like data of another task (a :class:`DatasetError`).
        DatasetError: a file no layout reads.
    """
    if task is not None and task not in TASK_WORDS:
        raise ConfigError(f"unknown task {task!r}.{did_you_mean(task, TASK_WORDS)} Tasks: {', '.join(TASK_WORDS)}.")
    detected = detect_layout(path)
    if task is None and detected is not None:  # as medimg fit reads it without --task
        own = _classes_beside_masks(path, detected)
        if own is not None:
            return own
        task = detected.task
    if detected is not None and detected.task == task:
        return detected
    if detected is not None and task is not None:
        derived = deriving_layout(path, task)
        if derived is not None:
            return derived
    if detected is not None and task == "classify" and (boxes_with_classes := _box_table_with_classes(path, detected)):
        return boxes_with_classes
    if detected is not None and task == "classify" and _class_folders_beside_boxes(path, detected):
        return get_layout("class_folders")  # Kvasir-Capsule's labelled_images/<class>/ beside metadata.csv's boxes
    if detected is not None and task == "classify" and class_folders.masks_inside_classes(path):
        return get_layout("class_folders")  # <class>/images + <class>/masks: classes, their masks left out
    if detected is not None and task == "classify" and _table_beside_few_masks(path, detected):
        return get_layout("csv_manifest")  # UBC-OCEAN's train.csv beside masks/ for a few of its slides
    if detected is not None and task == "classify" and csv_manifest.split_manifests(path):
        return get_layout("csv_manifest")  # VinDr-PCXR's image_labels_{train,test}.csv beside its box tables
    if detected is not None and task is not None and detected.claims(path):
        if task == "detect" and csv_boxes.is_table_without_box_columns(path):
            # a table with columns beyond path and label asked for as boxes: which are missing, not "classify"
            raise DatasetError(csv_boxes.no_box_columns_message(path))
        raise OtherTaskDataError(
            f"{path} looks like {TASK_WORDS[detected.task]} data ({detected.description}), not "
            f"{TASK_WORDS[task]} data: pass task={detected.task!r} (CLI: --task {detected.task}), or name the "
            f"layout to read it as {TASK_WORDS[task]} data anyway (Python: layout=..., one of "
            f"{', '.join(n.name for n in LAYOUTS if n.task == task)}; CLI: list the images in a CSV manifest)"
            + (_label_table_note(path) + _class_folders_note(path) if task == "classify" else ""),
            found_task=detected.task,
            found=detected.description,
        )
    same_task = [layout for layout in LAYOUTS if layout.task == (task or "classify")]
    for layout in same_task:
        if layout is not detected and layout.detect(path):
            return layout
    if task is not None:  # asked for by name: a layout's wider detection counts too
        for layout in same_task:
            if layout.detect_asked is not None and layout.detect_asked(path):
                return layout
    if path.is_dir():
        return next(layout for layout in same_task if layout.fallback)
    if path.suffix.lower() in OTHER_SPREADSHEETS:  # LibreOffice's .ods is a zip: "unpack it first" was its advice
        raise DatasetError(
            f"{path} is {OTHER_SPREADSHEETS[path.suffix.lower()]}, which medimg does not read: save it as .xlsx or "
            ".csv (File > Save As) and give that"
        )
    archive = _archive_kind(path)
    if archive is not None:
        raise DatasetError(
            f"{path} is a {archive} archive, not a dataset: unpack it first ({_UNPACK[archive].format(path=path)}) and "
            "pass the folder it makes"
        )
    raise DatasetError(
        f"{path} is not a dataset: pass a folder with one sub-folder per class, a folder of images with masks "
        "(images/ + masks/), a CSV manifest (path,label or image,mask or path,x1,y1,x2,y2,label), a Pascal VOC, "
        "COCO or YOLO folder, or a MedMNIST .npz file" + (json_labels_note(path) or unread_files_note(path))
    )


def _class_folders_note(path: Path) -> str:
    """``"; or the folders of images in imgs/ ..."`` when a folder asked for as classes but read as another task's
    holds folders of images further down (TBX11K's ``imgs/{health,sick,tb}/`` beside its COCO and VOC boxes: the
    refusal named detection and a CSV manifest only), else ``""``."""
    inside = class_folders.class_folders_inside(path) if path.is_dir() else None
    if inside is None or inside == path:
        return ""
    names = sorted(d.name for d in inside.iterdir() if visible_dir(d))
    if any(image_mask_pairs.folder_role(name) for name in names):
        return ""  # a case's images and masks (the Turkish stroke set's Bleeding/{PNG,MASKS,OVERLAY}): no classes
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return (
        f"; or the folders of images in {inside.relative_to(path).as_posix()}/ ({shown}) as the classes: medimg fit "
        f"{shell_quoted(str(inside))}"
    )


def _label_table_note(path: Path) -> str:
    """``"; or classes from its table ..."`` when a folder asked for as classes holds a table (BUS-BRA's
    ``bus_data.csv`` of ``Pathology`` beside ``Images/`` and ``Masks/``: ``medimg fit bus_data.csv --label-column
    Pathology`` reads it, which the refusal did not say), else ``""``."""
    from medimg.data.layouts.common import tables_in

    tables = tables_in(path) if path.is_dir() else []
    if not tables:
        return ""
    if len(tables) == 1:
        return f"; or, for classes from its table: medimg fit {shell_quoted(tables[0])} --label-column COLUMN"
    names = ", ".join(t.name for t in tables[:4])
    return (
        f"; or, for classes from one of its tables ({names}): medimg fit {shell_quoted(path)}/TABLE "
        "--label-column COLUMN"
    )


#: how to unpack each archive kind a dataset is downloaded as (Kaggle, Zenodo, PhysioNet, Grand Challenge)
_UNPACK = {
    "zip": "unzip -q {path} -d data/",
    "tar": "mkdir -p data && tar -xf {path} -C data/",
    "7z": "7z x {path} -odata/",
    "rar": "unrar x {path} data/",
}
_ARCHIVE_MAGIC = ((ZIP_MAGIC, "zip"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!", "rar"))
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst")


def _archive_kind(path: Path) -> str | None:
    """``zip``, ``tar``, ``7z`` or ``rar`` for an archive file (its first bytes, or a tar suffix), else ``None``."""
    if not path.is_file() or path.suffix.lower() == ".npz":  # a NumPy archive is a zip too: its reader explains
        return None
    if path.name.lower().endswith(_TAR_SUFFIXES):
        return "tar"
    with path.open("rb") as handle:
        head = handle.read(8)
    return next((kind for magic, kind in _ARCHIVE_MAGIC if head.startswith(magic)), None)
