"""Colour -> class tables of colour-coded masks (the Herlev ``*-d.bmp`` files and user tables).

Pass your own as a mapping ``{"R,G,B": class_index}`` plus class names, or a JSON file
``{"colours": {"255,0,0": 1, ...}, "class_names": [...]}``; the index :data:`IGNORE` marks colours left out of
loss and metrics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from medimg.errors import ConfigError

#: Label value of pixels excluded from loss and metrics (outside the field of view, undefined colours).
IGNORE = 255


class ColourTable(BaseModel):
    """Colour -> class table of colour-coded masks.

    Attributes:
        name: short name (``"herlev"``) or ``"custom"``.
        colours: ``"R,G,B" -> class index``; the index :data:`IGNORE` marks colours to leave out.
        class_names: names of classes ``0..K-1`` (class 0 is the background).
        description: where the table comes from.
    """

    name: str = "custom"
    colours: dict[str, int]
    class_names: list[str]
    description: str = ""

    def lookup(self) -> dict[tuple[int, int, int], int]:
        out: dict[tuple[int, int, int], int] = {}
        for key, value in self.colours.items():
            parts = [int(float(v)) for v in str(key).replace(" ", "").split(",")]
            if len(parts) != 3:
                raise ConfigError(f"colour table key {key!r} must be 'R,G,B' (three integers 0..255)")
            out[(parts[0], parts[1], parts[2])] = int(value)
        return out


#: Built-in colour tables. ``herlev``: the Herlev Pap-smear ``*-d.bmp`` masks (Jantzen et al. 2005). Measured on
#: the 917 masks: light blue (0,0,255) is the compact central object (nucleus, touches the border in 10% of
#: images), dark blue (0,0,128) surrounds it (cytoplasm), red (255,0,0) touches the border in every image
#: (background). Gray (128,128,128) and black (0,0,0) are thin border regions not assigned to the cell
#: (undefined): they are ignored by loss and metrics.
COLOUR_TABLES: dict[str, ColourTable] = {
    "herlev": ColourTable(
        name="herlev",
        colours={"255,0,0": 0, "0,0,128": 1, "0,0,255": 2, "128,128,128": IGNORE, "0,0,0": IGNORE},
        class_names=["background", "cytoplasm", "nucleus"],
        description="Herlev *-d.bmp: red background, dark blue cytoplasm, light blue nucleus; gray/black ignored",
    ),
}


def parse_colour_table(value: str | Path | Mapping[str, Any] | ColourTable | None) -> ColourTable | None:
    """A colour table from a built-in name, a JSON file, a mapping or a :class:`ColourTable`.

    Raises:
        ConfigError: unknown name, unreadable file or malformed table.
    """
    if value is None or isinstance(value, ColourTable):
        return value
    if isinstance(value, Mapping):
        data = dict(value)
        if "colours" not in data:  # a bare {"R,G,B": index} mapping
            data = {"colours": data, "class_names": []}
    else:
        text = str(value)
        if text.lower() in COLOUR_TABLES:
            return COLOUR_TABLES[text.lower()]
        path = Path(text)
        if not path.is_file():
            from medimg.errors import did_you_mean

            raise ConfigError(
                f"colour table {text!r} is neither a built-in table ({', '.join(COLOUR_TABLES)})"
                f"{did_you_mean(text, COLOUR_TABLES)} nor a JSON file"
            )
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"colour table {path} is not readable JSON: {error}") from error
    colours = {str(k): int(v) for k, v in dict(data.get("colours", {})).items()}
    labels = sorted({v for v in colours.values() if v != IGNORE})
    if not labels or labels != list(range(len(labels))):
        raise ConfigError(f"colour table classes must be 0..K-1 (plus {IGNORE} = ignore), got {labels}")
    names = list(data.get("class_names") or [f"class_{i}" for i in labels])
    if len(names) != len(labels):
        raise ConfigError(f"colour table has {len(labels)} classes but {len(names)} class names")
    table = ColourTable(name=str(data.get("name", "custom")), colours=colours, class_names=names)
    table.lookup()
    return table


LABELMAP_FILE = "labelmap.txt"
"""CVAT's and Datumaro's Pascal VOC segmentation export names each class and its mask colour here."""


def labelmap_colour_table(root: Path) -> ColourTable | None:
    """The colour table of a ``labelmap.txt`` in ``root`` (lines ``name:R,G,B:parts:actions``, ``#`` comments; the
    classes in line order, ``background`` first when listed), or ``None`` when there is none.

    Raises:
        ConfigError: a line without a colour, or two classes of one colour.
    """
    file = root / LABELMAP_FILE
    if not file.is_file():
        return None
    colours: dict[str, int] = {}
    names: list[str] = []
    for number, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition(":")
        rgb = rest.split(":", 1)[0].strip()
        parts = [p.strip() for p in rgb.split(",")]
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"{file}:{number}: expected 'name:R,G,B::' (CVAT's label map), got {line.strip()!r}")
        key = ",".join(parts)
        if key in colours:
            raise ConfigError(f"{file}:{number}: the colour {key} is also {names[colours[key]]!r}'s")
        colours[key] = len(names)
        names.append(name.strip() or f"class_{len(names)}")
    return parse_colour_table({"name": "labelmap", "colours": colours, "class_names": names}) if names else None
