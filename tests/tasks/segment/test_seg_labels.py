"""Mask encodings: binary 0/1 and 0/255, label maps, ambiguous values, colour tables."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from medimg.errors import ConfigError, DatasetError
from medimg.tasks.segment.labels import (
    IGNORE,
    LabelEncoding,
    determine_label_encoding,
    encode_mask,
    parse_colour_table,
)


def test_binary_encodings() -> None:
    assert determine_label_encoding({0.0, 1.0}).kind == "identity"
    enc = determine_label_encoding({0.0, 255.0})
    mask = np.array([[[0, 255], [255, 0]]], np.float32)
    np.testing.assert_array_equal(encode_mask(mask, enc), [[0, 1], [1, 0]])


def test_label_map_and_ambiguous_values(caplog: pytest.LogCaptureFixture) -> None:
    enc = determine_label_encoding({0.0, 1.0, 2.0})
    assert (enc.kind, enc.num_classes) == ("identity", 3)
    with caplog.at_level(logging.WARNING):
        brats = determine_label_encoding({0.0, 1.0, 2.0, 4.0})  # BraTS 2021: no label 3
    assert (brats.kind, brats.num_classes) == ("identity", 5)
    assert "3 never occurs" in caplog.text and "3 never occurs" in brats.note
    voc = determine_label_encoding({0.0, 1.0, 2.0, 255.0})  # VOC2012's palette masks: 255 is the void border
    assert (voc.kind, voc.num_classes) == ("identity", 3) and "void" in voc.note
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 2, 255]]], np.float32), voc), [[0, 2, 255]])
    assert determine_label_encoding({0.0, 255.0}).values == [0.0, 255.0]  # 0/255 alone stays binary
    with caplog.at_level(logging.WARNING):
        gray = determine_label_encoding({0.0, 128.0, 255.0})
    assert gray.num_classes == 3 and "gray-level" in caplog.text
    np.testing.assert_array_equal(encode_mask(np.array([[[255, 128, 0]]], np.float32), gray), [[2, 1, 0]])
    with caplog.at_level(logging.WARNING):
        odd = determine_label_encoding({0.0, 100.0})
    assert odd.values == [0.0, 100.0] and "ambiguous" in caplog.text
    jpeg = determine_label_encoding({float(v) for v in range(0, 256, 3)})
    assert jpeg.kind == "threshold"
    np.testing.assert_array_equal(encode_mask(np.array([[[3, 200]]], np.float32), jpeg), [[0, 1]])


def test_values_outside_the_encoding_name_the_file() -> None:
    enc = determine_label_encoding({0.0, 255.0})
    with pytest.raises(DatasetError, match=r"odd\.png"):
        encode_mask(np.array([[[0, 7]]], np.float32), enc, "odd.png")


def test_colour_tables() -> None:
    with pytest.raises(DatasetError, match="colour table"):
        determine_label_encoding(set(), has_colour=True)
    table = parse_colour_table("herlev")
    enc = determine_label_encoding(set(), colour_table=table)
    rgb = np.array([[[255, 0, 0, 128]], [[0, 0, 0, 128]], [[0, 128, 255, 128]]], np.float32)  # (3, 1, 4)
    np.testing.assert_array_equal(encode_mask(rgb, enc), [[0, 1, 2, IGNORE]])
    custom = parse_colour_table({"colours": {"0,0,0": 0, "0,255,0": 1}, "class_names": ["bg", "lesion"]})
    assert custom is not None and custom.class_names == ["bg", "lesion"]
    with pytest.raises(DatasetError, match="not in the colour table"):
        encode_mask(rgb, determine_label_encoding(set(), colour_table=custom), "x.png")
    with pytest.raises(ConfigError, match="herlev"):
        parse_colour_table("herlv")


def test_class_names_come_from_the_data_when_it_names_every_class() -> None:
    from medimg.tasks.segment.class_names import class_names_for

    three = LabelEncoding(kind="identity", num_classes=3)
    assert class_names_for(three, {0: "background", 1: "Anterior", 2: "Posterior"}) == [
        "background",
        "Anterior",
        "Posterior",
    ]
    grey = LabelEncoding(kind="values", num_classes=2, values=[0.0, 255.0])
    assert class_names_for(grey, {0: "background", 255: "lesion"}) == ["background", "lesion"]
    assert class_names_for(three, {0: "background", 1: "Anterior"}) == ["background", "class_1", "class_2"]  # partial
    assert class_names_for(three, {0: "x", 1: "x", 2: "y"}) == ["background", "class_1", "class_2"]  # not unique
    assert class_names_for(grey, None) == ["background", "foreground"]


def test_objects_labelled_one_by_one_are_one_foreground_class(caplog: pytest.LogCaptureFixture) -> None:
    """GlaS's ``*_anno.bmp``: each gland its own value 1..n, n the image's gland count. Read as classes, 0..10 were
    11 classes (and above 32 values the glands numbered below the middle were thresholded into background)."""
    from medimg.tasks.segment.labels import MaskValueSurvey

    def survey_of(masks: list[list[int]]) -> MaskValueSurvey:
        survey = MaskValueSurvey()
        for values in masks:
            survey.add([float(v) for v in values])
        return survey

    glands = survey_of([list(range(n + 1)) for n in (1, 4, 7, 10, 3, 10, 2)] + [[0]])
    with caplog.at_level(logging.WARNING):
        encoding = glands.encoding()
    assert encoding.kind == "threshold" and encoding.num_classes == 2 and "instance-labelled" in caplog.text
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 1, 9]]], np.float32), encoding), [[0, 1, 1]])
    assert survey_of([list(range(n + 1)) for n in (3, 40)]).encoding().kind == "threshold"  # beyond class indices
    # label maps stay label maps: every image with classes 0..3; classes missing here and there; a range not from 1
    assert survey_of([[0, 1, 2, 3]] * 6 + [[0, 1]]).encoding().kind == "identity"
    assert survey_of([[0, 2, 3], [0, 1], [0, 1, 2, 3, 4, 5, 6, 7, 8]]).encoding().kind == "identity"
    assert survey_of([[0, 20, 21, 22], [0, 18, 19, 20, 21, 22, 23, 24]]).encoding().kind == "identity"  # vertebrae
    # the data names the values as classes (a dataset.json): they are classes
    assert glands.encoding(named_values=True).kind == "identity"


def test_masks_named_for_instances_are_one_foreground_class_however_few_objects() -> None:
    """ROBUST-MIS' ``instrument_instances.png`` (each instrument its own value, 1..3 in an image): three classes by
    the values alone (class_3 the third instrument drawn), trained with status OK."""
    from pathlib import Path

    from medimg.tasks.segment.labels import MaskValueSurvey, named_for_instances

    survey = MaskValueSurvey()
    for values in ([0, 1, 2], [0, 1], [0, 1, 2, 3], [0, 1, 2]):
        survey.add([float(v) for v in values])
    assert survey.encoding().kind == "identity"  # as few objects are classes by their values alone
    named = named_for_instances(
        [Path("Training/Sigmoid/1/instrument_instances.png"), Path("2/instrument_instances.png")]
    )
    assert named and not named_for_instances([Path("1/instrument_mask.png")]) and not named_for_instances([])
    encoding = survey.encoding(instance_files=named)
    assert encoding.kind == "threshold" and encoding.num_classes == 2 and "instance-labelled" in (encoding.note or "")
    assert survey.encoding(instance_files=True, named_values=True).kind == "identity"  # the data names them classes


def _objects(ids: list[int], size: int = 64) -> np.ndarray:
    """A 2D mask of square objects on a grid, object ``k`` labelled ``ids[k]``."""
    mask = np.zeros((size, size), np.uint16)
    for k, value in enumerate(ids):
        row, col = divmod(k, 10)
        mask[row * 6 + 1 : row * 6 + 5, col * 6 + 1 : col * 6 + 5] = value
    return mask


def test_objects_labelled_with_gaps_or_track_ids_are_one_foreground_not_thresholded() -> None:
    """DeepBacs' StarDist masks (IDs 1..44 with one drawn over, so not 0..n) and the Cell Tracking Challenge's
    man_seg (track IDs 13, 19, 22... up to 119): over 32 values in the set, read as a threshold at the middle of
    the range, which made every object numbered below it background (Dice 0.22, masks left empty)."""
    from medimg.tasks.segment.labels import MaskValueSurvey

    rng = np.random.default_rng(0)
    for masks in (
        [_objects([v for v in range(1, n + 1) if v != 3]) for n in (12, 30, 44, 20)],  # an ID missing in each
        [_objects(sorted(rng.choice(np.arange(1, 120), n, replace=False).tolist())) for n in (14, 13, 15, 14)],
    ):
        survey = MaskValueSurvey()
        for mask in masks:
            survey.add_mask(mask)
        encoding = survey.encoding()
        assert encoding.kind == "threshold" and encoding.threshold == 0.5, encoding.note
        assert "instance-labelled" in encoding.note
    # organ slices: each organ one piece, a few values each, the set under 33 values: still a label map
    organs = MaskValueSurvey()
    for present in ([1, 2, 4, 6], [2, 3, 4, 5, 8], [1, 4, 6, 7, 8, 9], [1, 2, 3]):
        organs.add_mask(_objects(present))
    assert organs.encoding().kind == "identity"
    # anti-aliased masks (values 0..255 along the edges, in many pieces): thresholded at the middle as before
    edges = MaskValueSurvey()
    for shift in range(3):
        smooth = np.zeros((64, 64), np.float32)
        smooth[10 + shift : 40, 10:40] = 255
        edges.add_mask(np.rint(gaussian_filter(smooth, 2)).astype(np.uint8))
    assert edges.encoding().threshold == 127.5


def test_binary_masks_saved_two_ways_are_one_foreground(caplog: pytest.LogCaptureFixture) -> None:
    """Some masks 0/1, others 0/255 (two tools, two exports): the union {0, 1, 255} alone would read 255 as a VOC
    border (ignored) or threshold 1 into background; per mask it is binary both ways."""
    from medimg.tasks.segment.labels import MaskValueSurvey

    survey = MaskValueSurvey()
    for values in ([0.0, 1.0], [0.0, 255.0], [0.0]):
        survey.add(values)
    with caplog.at_level(logging.WARNING):
        encoding = survey.encoding()
    assert encoding.kind == "mapping" and encoding.num_classes == 2 and "two ways" in caplog.text
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 1, 255]]], np.float32), encoding), [[0, 1, 1]])
    voc = MaskValueSurvey()
    for values in ([0.0, 1.0, 255.0], [0.0, 2.0, 255.0]):
        voc.add(values)
    assert voc.encoding().kind == "identity" and voc.encoding().num_classes == 3  # borders: VOC's void


def test_a_0_1_mask_keeps_its_object_when_an_anti_aliased_mask_makes_the_set_thresholded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One mask saved 0/1 among 0/255 ones, and one anti-aliased pixel (254) elsewhere: the set's values call for a
    threshold at 127.5, which erased the 0/1 mask's whole object (found by a new-user session)."""
    from medimg.tasks.segment.labels import MaskValueSurvey

    survey = MaskValueSurvey()
    for values in ([0.0, 255.0], [0.0, 254.0, 255.0], [0.0, 1.0]):
        survey.add(values)
    with caplog.at_level(logging.WARNING):
        encoding = survey.encoding()
    assert encoding.kind == "threshold" and "saved 0/1" in encoding.note and "saved 0/1" in caplog.text
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 1, 1]]], np.float32), encoding), [[0, 1, 1]])
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 1, 254, 100]]], np.float32), encoding), [[0, 0, 1, 0]])


def test_gray_levels_around_a_top_level_background_count_down(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """REFUGE's and ORIGA's optic disc/cup masks: 255 background, 128 disc, 0 cup. Read in increasing order the
    background was class 2 and the cup class 0 (background), silently; the value around every mask's border is the
    background, so the levels count down from it. Masks with 0 around them keep the increasing order."""
    from PIL import Image

    from medimg import Dataset
    from medimg.tasks.segment.cases import determine_dataset_encoding, read_samples

    yy, xx = np.mgrid[:32, :32]
    for k in range(4):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), 100 + k, np.uint8)).save(tmp_path / "images" / f"g{k:04d}.jpg")
        distance = np.hypot(yy - 14 - k, xx - 16)
        mask = np.where(distance < 5, 0, np.where(distance < 10, 128, 255)).astype(np.uint8)
        Image.fromarray(mask).save(tmp_path / "masks" / f"g{k:04d}.bmp")
    dataset = Dataset.load(tmp_path, task="segment")
    samples = read_samples(dataset, dataset.cases).samples
    with caplog.at_level(logging.WARNING):
        encoding = determine_dataset_encoding(dataset, samples)
    assert "decreasing order" in caplog.text
    labels = encode_mask(samples[0].mask, encoding)
    assert (labels[14, 16], labels[14, 24], labels[0, 0]) == (2, 1, 0)  # cup, disc, background
    inverted = [s.mask for s in samples]
    for sample, original in zip(samples, inverted, strict=True):
        sample.mask = 255 - original  # 0 background around, 255 cup inside: the usual order
    assert encode_mask(samples[0].mask, determine_dataset_encoding(dataset, samples))[14, 16] == 2


def test_a_prediction_s_confidence_is_that_of_the_region_it_drew() -> None:
    """A lesion covering a sixth of the image, drawn with probability 0.9: its confidence is 0.9, not the 0.15 its
    probability averages over the whole image (what a report showed as "foreground (17%)")."""
    from medimg.tasks.segment.masks import summarise

    labels = np.zeros((6, 6), np.uint8)
    labels[:1] = 1
    probs = np.stack([np.where(labels == 1, 0.1, 0.8), np.where(labels == 1, 0.9, 0.2)]).astype(np.float32)
    prediction = summarise(labels, probs, ["background", "lesion"], None)
    assert prediction.label == "lesion"
    assert prediction.confidence == pytest.approx(0.9)
    assert prediction.probabilities["lesion"] == pytest.approx((6 * 0.9 + 30 * 0.2) / 36)
    empty = summarise(
        np.zeros((4, 4), np.uint8), np.stack([np.full((4, 4), 0.7), np.full((4, 4), 0.3)]), ["bg", "x"], None
    )
    assert empty.label == "bg" and empty.confidence == pytest.approx(0.7)
    assert empty.region_probabilities == {"bg": pytest.approx(0.7), "x": None}


def test_predict_s_json_and_csv_give_the_confidence_of_the_region_drawn() -> None:
    """``medimg predict`` wrote ``"label": "foreground"`` beside ``"probabilities": {"foreground": 0.42}`` (and
    ``p_foreground 0.411`` in its CSV), read as "41% chance of a lesion": the whole image's mean. The region's
    confidence (Python's ``prediction.confidence``, 0.87) was in neither."""
    from medimg.tasks.segment.masks import summarise

    labels = np.zeros((6, 6), np.uint8)
    labels[:1] = 1
    probs = np.stack([np.where(labels == 1, 0.1, 0.8), np.where(labels == 1, 0.9, 0.2)]).astype(np.float32)
    prediction = summarise(labels, probs, ["background", "lesion"], None)
    record = prediction.to_dict()
    assert record["label"] == "lesion" and record["confidence"] == pytest.approx(0.9)
    assert record["region_probabilities"]["lesion"] == pytest.approx(0.9)
    (row,) = prediction.csv_rows()
    assert float(row["confidence"]) == pytest.approx(0.9) and float(row["region_p_lesion"]) == pytest.approx(0.9)
    assert float(row["p_lesion"]) == pytest.approx((6 * 0.9 + 30 * 0.2) / 36, abs=1e-6)
    empty = summarise(
        np.zeros((4, 4), np.uint8), np.stack([np.full((4, 4), 0.7), np.full((4, 4), 0.3)]), ["bg", "x"], None
    )
    assert empty.csv_rows()[0]["region_p_x"] == ""


def test_integer_label_maps_above_32_keep_their_labels(caplog: pytest.LogCaptureFixture) -> None:
    """Seven organs labelled 3..52 (NIfTI uint8) were thresholded at 26 into one foreground class, with a warning
    blaming JPEG; a label map 0..40 in every image was read as objects labelled one by one."""
    from medimg.tasks.segment.labels import MaskValueSurvey

    organs = MaskValueSurvey()
    for _ in range(3):
        organs.add([0.0, 3.0, 7.0, 12.0, 25.0, 40.0, 41.0, 52.0])
    with caplog.at_level(logging.WARNING):
        encoding = organs.encoding()
    assert (encoding.kind, encoding.num_classes) == ("identity", 53) and "JPEG" not in caplog.text
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 3, 41, 52]]], np.float32), encoding), [[0, 3, 41, 52]])
    every_image = MaskValueSurvey()
    for _ in range(4):
        every_image.add([float(v) for v in range(41)])
    assert (every_image.encoding().kind, every_image.encoding().num_classes) == ("identity", 41)
    many = {float(v) for v in range(0, 120, 2)}  # 60 values: more than 32, the data names them
    assert determine_label_encoding(many, named=True).num_classes == 119
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        unnamed = determine_label_encoding(many)
    assert unnamed.kind == "threshold" and "JPEG" not in unnamed.note and "dataset.json" in unnamed.note
    assert determine_label_encoding({0.0, 3.0, 40.0, 52.0}, lossy=True).kind == "threshold"  # JPEG: not labels


def test_structure_codes_above_255_are_classes(caplog: pytest.LogCaptureFixture) -> None:
    """MM-WHS: seven heart structures coded 205, 420, 500, 550, 600, 820, 850 in int16 NIfTI were thresholded at 425
    into one foreground (205 and 420 as background), with a warning blaming JPEG."""
    codes = [0.0, 205.0, 420.0, 500.0, 550.0, 600.0, 820.0, 850.0]
    with caplog.at_level(logging.WARNING):
        encoding = determine_label_encoding(set(codes))
    assert (encoding.kind, encoding.num_classes) == ("values", 8) and "JPEG" not in caplog.text
    mask = np.array([[[0, 205, 420, 850]]], np.float32)
    np.testing.assert_array_equal(encode_mask(mask, encoding), [[0, 1, 2, 7]])
    assert determine_label_encoding(set(codes), lossy=True).kind == "threshold"
    assert determine_label_encoding({float(v) for v in range(0, 1000, 20)}).kind == "threshold"  # 50 values


def test_a_dataset_json_names_non_contiguous_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Masks 0/1/4/7 with a dataset.json naming those four values: the names were ignored (class_1, class_4,
    class_7, silently), and --set class_names= with the four names was refused ("4 names for 8 classes")."""
    from medimg.tasks.segment.class_names import class_names_for
    from medimg.tasks.segment.planning import SegPlan
    from medimg.tasks.segment.task import SegmentTask

    encoding = determine_label_encoding({0.0, 1.0, 4.0, 7.0})
    assert encoding.unused == [2, 3, 5, 6]
    names = {0: "background", 1: "disc", 4: "dark", 7: "grey"}
    expected = ["background", "disc", "class_2", "class_3", "dark", "class_5", "class_6", "grey"]
    assert class_names_for(encoding, names) == expected
    with caplog.at_level(logging.WARNING):
        assert class_names_for(encoding, {0: "background", 1: "disc"})[4] == "class_4"
    assert "not 4, 7" in caplog.text  # says why the dataset.json was not used
    # a plan saved before LabelEncoding.unused: the empty classes come from its note
    old = encoding.model_copy(update={"unused": []})
    assert class_names_for(old, names) == expected
    plan = SegPlan(num_classes=8, label_encoding=old, class_names=[f"class_{k}" for k in range(8)])
    given = SegmentTask().resolve_plan(plan, {"class_names": ["background", "disc", "dark", "grey"]})
    assert given.class_names == expected
    with pytest.raises(ConfigError, match="or 4 for the classes the masks hold"):
        SegmentTask().resolve_plan(plan, {"class_names": ["background", "disc", "dark"]})


def test_class_codes_without_0_are_classes_the_border_value_the_background(caplog: pytest.LogCaptureFixture) -> None:
    """CholecSeg8k's watershed masks (PNG): 50 the background, 11 abdominal wall, 12 fat, 13 GI tract, 21 liver.
    They were thresholded at 30.5: the background became the foreground and every tissue background."""
    codes = {11.0, 12.0, 13.0, 21.0, 50.0}
    with caplog.at_level(logging.WARNING):
        encoding = determine_label_encoding(codes, background=50.0)
    assert encoding.kind == "values" and encoding.num_classes == 5
    assert encoding.values == [50.0, 11.0, 12.0, 13.0, 21.0]  # the background is class 0
    assert "50 (the value around every mask) first" in caplog.text
    mask = np.array([[[50, 11], [21, 13]]], np.uint8)  # (C, H, W)
    assert encode_mask(mask, encoding, "frame_80_endo_watershed_mask.png").tolist() == [[0, 1], [4, 3]]
    assert determine_label_encoding(codes).values == sorted(codes)  # no border value: increasing order
    assert determine_label_encoding(codes, lossy=True).kind == "threshold"  # JPEG: not codes
    assert determine_label_encoding({1.0, 2.0}).kind == "threshold"  # two values: binary, as before


def test_classes_from_1_with_255_beside_them_leave_255_unannotated(caplog: pytest.LogCaptureFixture) -> None:
    """OCELOT's tissue masks: 1 background, 2 cancer area, 255 unknown. They were read as three class codes: the
    network learnt to predict "255" over the unknown areas, and it was scored as a class."""
    from medimg.tasks.segment.labels import IGNORE, MaskValueSurvey

    with caplog.at_level(logging.WARNING, logger="medimg"):
        encoding = determine_label_encoding({1.0, 2.0, 255.0})
    assert (encoding.kind, encoding.num_classes) == ("mapping", 2) and "255 as unannotated" in caplog.text
    mask = np.array([[[1, 2], [255, 1]]], np.uint8)
    assert encode_mask(mask, encoding, "001.png").tolist() == [[0, 1], [IGNORE, 0]]
    assert determine_label_encoding({1.0, 2.0, 3.0, 255.0}).num_classes == 3
    # 255 around every mask is the background (REFUGE-like codes); JPEG masks are no codes; codes with gaps stay
    assert determine_label_encoding({1.0, 2.0, 255.0}, background=255.0).values == [255.0, 1.0, 2.0]
    assert determine_label_encoding({1.0, 2.0, 255.0}, lossy=True).kind == "threshold"
    assert determine_label_encoding({1.0, 5.0, 255.0}).num_classes == 3
    # a dataset.json naming 255 makes it a class
    survey = MaskValueSurvey()
    for values in ([1.0, 2.0, 255.0], [1.0, 255.0]):
        survey.add(values)
    assert survey.encoding().num_classes == 2
    named = survey.encoding(named_values={1: "background", 2: "cancer", 255: "unknown"})
    assert named.num_classes == 3 and encode_mask(mask, named).tolist() == [[0, 1], [2, 0]]


def test_sparse_label_codes_are_classes_named_by_their_values(caplog: pytest.LogCaptureFixture) -> None:
    """SPIDER's masks: vertebrae 1..4, the canal 100, discs 201..203: kept as class indices with 195 empty classes
    between them, a network of 204 outputs (one epoch of 20 small volumes ran past 16 minutes)."""
    from medimg.tasks.segment.class_names import class_names_for
    from medimg.tasks.segment.masks import label_values

    codes = {0.0, 1.0, 2.0, 3.0, 4.0, 100.0, 201.0, 202.0, 203.0}
    with caplog.at_level(logging.WARNING):
        encoding = determine_label_encoding(codes)
    assert (encoding.kind, encoding.num_classes) == ("values", 9) and "leave out 195" in caplog.text
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 4, 100, 203]]], np.float32), encoding), [[0, 4, 5, 8]])
    assert label_values(encoding) == [0, 1, 2, 3, 4, 100, 201, 202, 203]  # predicted masks in the masks' values
    named = ["background", *(f"class_{v}" for v in (1, 2, 3, 4, 100, 201, 202, 203))]
    assert class_names_for(encoding) == named
    assert determine_label_encoding({0.0, 3.0, 7.0, 40.0, 52.0}).kind == "identity"  # organ ids below 64 stay
