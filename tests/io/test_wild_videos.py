"""Ultrasound and endoscopy clips (MP4, QuickTime, AVI, WebM) where images were expected: named as videos, with how
to make frames that keep one clip on one side of the split. Before: an MP4 was "may be corrupt, truncated at the
start, or another format", and a folder of class folders of clips was "no images found" with no word of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from medimg import Dataset
from medimg.errors import DatasetError, ImageReadError
from medimg.io import read_image

CLIPS = {
    "a.mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42",
    "b.mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
    "c.avi": b"RIFF\x00\x10\x00\x00AVI LIST",
    "d.webm": b"\x1aE\xdf\xa3\x9fB\x86\x81\x01",
}


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_a_video_is_named_with_how_to_extract_frames(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(CLIPS[name] + bytes(256))
    with pytest.raises(ImageReadError, match=r"video.*ffmpeg -i clip1\.mp4 -vf fps=5 covid/clip1/%04d\.png"):
        read_image(tmp_path / name)


def test_class_folders_of_clips_say_so(tmp_path: Path) -> None:
    for cls in ("covid", "normal"):
        (tmp_path / cls).mkdir()
        for name, head in CLIPS.items():
            (tmp_path / cls / name).write_bytes(head + bytes(256))
    with pytest.raises(DatasetError, match=r"found 8 video file\(s\), which medimg does not read: for each, extract"):
        Dataset.load(tmp_path)
