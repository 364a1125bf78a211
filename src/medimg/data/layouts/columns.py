"""How a label table's columns are named and matched: :func:`column_key`, the names of its image column
(:data:`PATH_COLUMNS`) and of its reader column (:data:`READER_COLUMNS`). Below every table reader (CSV manifests,
box tables, spreadsheets), which share them."""

from __future__ import annotations

import re

#: the names of a label table's image column (:func:`column_key` of the header), in the order they are looked for
PATH_COLUMNS = (
    "path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path", "image_file",
    "image_index", "image_id", "imageid", "image_name", "img", "img_path", "img_id", "img_name", "id_code",
    "data_path",  # TDSC-ABUS's labels.csv: case_id,label,data_path,mask_path
    "image_data_id",  # LONI IDA (ADNI, PPMI): the folder named I12345 holding the scan
    "patientid",  # RSNA's patientId names <patientId>.dcm when no column names the file
    "id",  # Kaggle's bare id (histopathologic-cancer-detection's train_labels.csv: id,label -> train/<id>.tif)
    # last: a study's or series' folder of DICOM slices (Kaggle RSNA's uids, or named as a folder)
    "studyinstanceuid", "seriesinstanceuid", "folder", "directory", "study_folder", "series_folder", "study_path",
    "series_path",
)  # fmt: skip


#: columns naming each image's patient (or what else holds several images of one: a specimen, a slide, a video)
PATIENT_COLUMNS = (
    "patient_id", "patient", "subject", "subject_id", "patientid", "lesion_id",
    # hospital exports: the medical record number; BIDS' participants.tsv
    "mrn", "medical_record_number", "patient_number", "patient_no", "patient_num", "participant_id", "participant",
    "person_id",  # the OMOP common data model's (INSPECT's labels: a person's several CT scans)
    # what holds several images of one patient when no column names the patient: HEp-2's Specimen (one serum's
    # cells, left out one at a time in its protocol), a slide's tiles, a video's frames (Kvasir-Capsule's video_id)
    "specimen", "specimen_id", "slide", "slide_id", "video_id",
)  # fmt: skip

#: who labelled a row, when several readers labelled each image (VinDr-CXR's ``rad_id``: three radiologists per
#: image, in its box table and its label table alike)
READER_COLUMNS = ("rad_id", "reader", "reader_id", "annotator", "annotator_id", "radiologist", "rater")


#: which side a row is of (CMMD's ``LeftRight``: a row per breast of a patient folder holding both breasts' films)
LATERALITY_COLUMNS = ("leftright", "left_right", "laterality", "image_laterality", "imagelaterality", "breast_side")


def column_key(name: str) -> str:
    """How a manifest column is matched: lower case, spaces and hyphens as underscores (``Patient ID`` ->
    ``patient_id``, as spreadsheets and public sets such as NIH ChestX-ray14 write them)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())
