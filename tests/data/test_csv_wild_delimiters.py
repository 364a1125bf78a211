"""Label tables whose delimiter or encoding the header alone does not tell: Excel's ``sep=;`` first line, a
semicolon table whose header holds a comma, UTF-16 without a byte-order mark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medimg import Dataset

NAMES = [f"{c}.png" for c in "abcdefgh"]
LABELS = ["normal", "tumour"] * 4


def _images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(NAMES):
        Image.fromarray(np.full((8, 8), 20 * i, dtype=np.uint8)).save(folder / name)


def _load(tmp_path: Path, text: str, encoding: str = "utf-8") -> Dataset:
    _images(tmp_path / "images")
    path = tmp_path / "labels.csv"
    path.write_bytes(text.encode(encoding))
    return Dataset.load(path)


def _rows(delimiter: str) -> list[str]:
    return [f"images/{n}{delimiter}{lab}" for n, lab in zip(NAMES, LABELS, strict=True)]


def test_excels_separator_line_names_the_delimiter(tmp_path: Path) -> None:
    dataset = _load(tmp_path, "\r\n".join(["sep=;", "Bild;Diagnose", *_rows(";")]) + "\r\n")
    assert dataset.class_names == ["normal", "tumour"] and len(dataset.cases) == 8


def test_a_semicolon_table_whose_header_holds_a_comma(tmp_path: Path) -> None:
    dataset = _load(tmp_path, "\n".join(["path;Befund (final, geprüft)", *_rows(";")]) + "\n")
    assert dataset.class_names == ["normal", "tumour"]
    assert [dataset.class_names[c.label] for c in dataset.cases if c.label is not None] == LABELS


def test_utf16_without_a_byte_order_mark(tmp_path: Path) -> None:
    for encoding in ("utf-16-le", "utf-16-be"):
        folder = tmp_path / encoding
        dataset = _load(folder, "\n".join(["path,label", *_rows(",")]) + "\n", encoding)
        assert dataset.class_names == ["normal", "tumour"] and len(dataset.cases) == 8, encoding


def test_a_comma_table_with_a_quoted_comma_stays_a_comma_table(tmp_path: Path) -> None:
    rows = [f'images/{n},"{lab}, grade 1"' for n, lab in zip(NAMES, LABELS, strict=True)]
    dataset = _load(tmp_path, "\n".join(["path,label", *rows]) + "\n")
    assert dataset.class_names == ["normal, grade 1", "tumour, grade 1"]
