"""A predicted box's label ("RBC 0.63") is drawn on a tab of the box's colour, in black or white, whichever reads:
it was orange text straight on the image, unreadable on pink blood cells."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from medimg.tasks.detect.metrics import Detections
from medimg.tasks.detect.report import PALETTE, _text_colour, draw_boxes


def _drawn(box: list[float], label: int) -> np.ndarray:
    pink = np.empty((3, 200, 300), np.uint8)
    pink[:] = np.array([230, 180, 190], np.uint8)[:, None, None]
    found = Detections(np.array([box], np.float32), np.array([0.63], np.float32), np.array([label]))
    return np.asarray(Image.open(io.BytesIO(draw_boxes(pink, ["WBC", "RBC"], predicted=found))).convert("RGB"))


def test_the_label_sits_on_a_tab_of_the_box_colour_above_the_box() -> None:
    picture = _drawn([100.0, 80.0, 180.0, 150.0], label=1)  # RBC: the palette's orange
    orange = np.array(PALETTE[1])
    tab = picture[70:79, 100:140]  # just above the box's top-left corner
    assert (np.abs(tab.astype(int) - orange).sum(-1) == 0).mean() > 0.5  # mostly the box's colour
    assert (tab.sum(-1) < 150).any()  # with dark text on it (orange is light)
    assert not (np.abs(picture[70:79, 150:200].astype(int) - orange).sum(-1) == 0).any()  # a tab, not a band


def test_a_box_at_the_top_edge_keeps_its_tab_inside_the_image() -> None:
    picture = _drawn([10.0, 0.0, 90.0, 60.0], label=0)
    magenta = np.array(PALETTE[0])
    assert (np.abs(picture[2:12, 12:40].astype(int) - magenta).sum(-1) == 0).mean() > 0.5


def test_the_text_colour_is_the_one_that_contrasts_more() -> None:
    assert _text_colour((255, 133, 27)) == (0, 0, 0)  # orange
    assert _text_colour((0, 116, 217)) == (255, 255, 255)  # blue
    assert _text_colour((255, 255, 255)) == (0, 0, 0) and _text_colour((0, 0, 0)) == (255, 255, 255)
