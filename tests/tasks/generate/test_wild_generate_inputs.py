"""``generate``'s inputs as the Python API gets them: counts that are not whole numbers, classes named by
numbers, an ``out_dir`` that is a file or a folder inside an earlier synthetic set: each a clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medimg.errors import ConfigError
from medimg.tasks.generate.plan import GeneratePlan
from medimg.tasks.generate.synthesis import class_labels, image_count, refuse_data_folder


@pytest.mark.parametrize(("n", "expected"), [(3, 3), (3.0, 3), ("3", 3), (np.int64(2), 2)])
def test_whole_numbers_of_images_are_taken(n: object, expected: int) -> None:
    assert image_count(n) == expected


@pytest.mark.parametrize(
    ("n", "message"),
    [
        (2.5, "whole number of images, got 2.5"),
        ("a few", "whole number"),
        (True, "whole number"),
        (None, "whole number"),
        (0, "at least 1, got 0"),
        (-4, "at least 1, got -4"),
    ],
)
def test_other_counts_are_refused(n: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        image_count(n)


def test_a_class_named_by_a_number_is_found_from_an_int() -> None:
    plan = GeneratePlan(class_names=["0", "1"], num_classes=2)
    assert class_labels(plan, 2, 1) == [1, 1]  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown class '7'"):
        class_labels(plan, 2, 7)  # type: ignore[arg-type]


def test_an_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "synth"
    target.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"--out .*synth is a file, not a folder"):
        refuse_data_folder(target)


def test_an_out_dir_inside_an_earlier_set_names_the_set(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "set" / "lesion").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "set" / "lesion" / "synthetic_s0_00000.png")
    (tmp_path / "set" / "synthetic.csv").write_text("path,label,synthetic\nlesion/synthetic_s0_00000.png,lesion,1\n")
    for inside in (tmp_path / "set" / "lesion", tmp_path / "set" / "new"):
        with pytest.raises(ConfigError, match=r"inside the synthetic set .*set \(its synthetic.csv\).*--out .*set"):
            refuse_data_folder(inside)
    refuse_data_folder(tmp_path / "set")  # the set itself is added to
