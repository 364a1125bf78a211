"""External evaluation: map another set's masks to a run's classes, whatever their encoding.

A run decodes its own masks with the :class:`~medimg.tasks.segment.labels.LabelEncoding` found on its training
data (0/255, 0/1, label values, a colour table). An external set may store the same classes differently: a
vessel set with 0/1 masks for a run trained on 0/255 masks, a label map numbered 0/1/2 for a run trained on
0/128/255 gray levels, another colour table. :func:`survey_masks` lists the values every mask of the set holds
(with the first file holding each), and :func:`external_label_encoding` decides, once for the whole set:

1. ``mask_labels`` given (``--mask-labels "0=background,1=vessel"`` or a JSON file): exactly that;
2. the data names its classes (its own colour table's class names, or the ``labels`` of a ``dataset.json`` beside
   the masks, as MSD / nnU-Net sets have) and every name is one of the run's class names: mapped by name (the
   run's own encoding when that is the same mapping);
3. the values fit the run's encoding: the run's encoding, unchanged, unless they hold a class no training mask
   held (the empty classes between a run's 0/1/4/7): refused, the masks are numbered differently;
4. the set's own encoding (:func:`~medimg.tasks.segment.labels.determine_label_encoding`) has as many classes as
   the run: mapped by rank of values (the lowest value is the run's class 0, ...; counted down when the top
   level surrounds every mask, as training reads REFUGE's 255 background, 128 disc, 0 cup);
5. otherwise: a :class:`~medimg.errors.DatasetError` naming a file, the values and the fix (``mask_labels``).

Cases 3 and 4 return a ``note`` that says which mapping was used (logged and kept in the report).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.errors import ConfigError, DatasetError
from medimg.io.formats import is_lossy
from medimg.tasks.segment.labels import (
    IGNORE,
    IGNORE_NAME,
    MAX_LABEL_VALUE,
    ColourTable,
    LabelEncoding,
    border_value,
    determine_label_encoding,
    is_colour_mask,
    mixed_binary_encoding,
    snap_to_levels,
    unused_classes,
)

if TYPE_CHECKING:
    from medimg.data.case import SegCase

#: Distinct values (or colours) a survey keeps; more means a JPEG-compressed or intensity-like mask.
SURVEY_LIMIT = 1024
#: Largest channel spread of a colour read as grey (palette masks store grey levels as almost-grey colours).
NEAR_GREY = 8

Colour = tuple[int, int, int]


@dataclass
class MaskSurvey:
    """The values found in a set's masks, each with the first mask file holding it.

    Attributes:
        values: gray value -> first file (single-channel masks, and RGB masks whose channels are equal).
        colours: ``(R, G, B)`` -> first file (colour-coded masks).
    """

    values: dict[float, str] = field(default_factory=dict)
    colours: dict[Colour, str] = field(default_factory=dict)
    borders: set[float] = field(default_factory=set)
    """The value around each gray mask of more than one value (its background, as a rule: REFUGE's 255)."""
    binary_kinds: set[str] = field(default_factory=set)
    """``"0/1"``, ``"0/255"`` or ``"other"`` for each gray mask of more than one value: binary masks saved two ways
    (:func:`~medimg.tasks.segment.labels.mixed_binary_encoding`) hold 0/1 in some and 0/255 in others."""

    def add(self, raw: np.ndarray, source: str) -> None:
        """Add the values of one raw mask ``(C, *spatial)``. An RGB mask whose colours are all near-grey (a
        palette GIF's ``(4,2,4)``/``(252,254,252)``, as DRIVE's second-observer masks) counts by its first
        channel, the channel the gray encodings decode."""
        if is_colour_mask(raw):
            rgb = np.rint(raw[:3]).astype(np.int64).reshape(3, -1)
            keys = np.unique((rgb[0] << 16) | (rgb[1] << 8) | rgb[2])[: SURVEY_LIMIT + 1].tolist()
            colours = [(key >> 16, (key >> 8) & 255, key & 255) for key in keys]
            if any(max(c) - min(c) > NEAR_GREY for c in colours):
                for colour in colours:
                    self.colours.setdefault(colour, source)
                return
        found = np.unique(raw[0])[: SURVEY_LIMIT + 1].tolist()
        if len(found) > 1:
            self.borders.add(border_value(raw[0]))
            self.binary_kinds.add("0/1" if found == [0, 1] else "0/255" if found == [0, 255] else "other")
        for value in found:
            if len(self.values) > SURVEY_LIMIT:
                break
            self.values.setdefault(float(value), source)

    def describe(self) -> str:
        """``"values 0, 255"`` / ``"colours (255,0,0), (0,0,255)"`` (at most 8 shown)."""
        parts = []
        if self.values:
            shown = sorted(self.values)
            parts.append("values " + ", ".join(f"{v:g}" for v in shown[:8]) + (", ..." if len(shown) > 8 else ""))
        if self.colours:
            listing = ", ".join(f"({r},{g},{b})" for r, g, b in sorted(self.colours)[:8])
            parts.append(f"colours {listing}" + (", ..." if len(self.colours) > 8 else ""))
        return " and ".join(parts) or "no values"


def survey_masks(cases: Sequence[SegCase], *, workers: int = 4, palette_indices: bool = True) -> MaskSurvey:
    """Read the mask of every case (threads; its further masks merged, structure masks composed: as training reads
    it) and collect its values; unreadable masks are left out (reading the cases reports them).
    ``palette_indices``: palette PNGs as their indices, as a set without a colour table reads them (with one, as
    their colours: :meth:`medimg.data.dataset.SegmentationDataset.read`)."""
    from medimg.data.dataset import read_case_mask
    from medimg.errors import ImageReadError

    def read(case: SegCase) -> np.ndarray | None:
        try:
            return read_case_mask(case, palette_indices=palette_indices)
        except (ImageReadError, DatasetError):
            return None

    survey = MaskSurvey()
    labelled = [case for case in cases if case.mask is not None]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for case, array in zip(labelled, pool.map(read, labelled), strict=True):
            if array is not None:
                survey.add(array, str(case.mask))
    return survey


# ----------------------------------------------------------------------------------------------- mask_labels
def parse_mask_labels(value: str | Path | Mapping[str, Any] | None) -> dict[str, str] | None:
    """``{raw value: class name}`` from ``"0=background,255=vessel"``, ``"255,0,0=background;0,0,255=nucleus"``
    (colours), a JSON file ``{"0": "background", "255": "vessel"}`` or a mapping. The name ``ignore`` leaves a
    value out of the metrics.

    Raises:
        ConfigError: unreadable file or malformed text.
    """
    if value is None or isinstance(value, Mapping):
        return None if value is None else {_value_key(k): str(v) for k, v in value.items()}
    text = str(value).strip()
    if text.endswith(".json") or _is_file(text):
        try:
            data = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(f"mask labels {text}: not a readable JSON file ({error})") from error
        if not isinstance(data, Mapping):
            raise ConfigError(f'mask labels {text}: expected {{"value": "class name", ...}}')
        return parse_mask_labels(data.get("labels", data) if isinstance(data.get("labels"), Mapping) else data)
    pattern = re.compile(r"\s*(\d+(?:\.\d+)?(?:\s*,\s*\d+\s*,\s*\d+)?)\s*=\s*([^,;=]+?)\s*(?:[,;]|$)")
    pairs = [(m.group(1), m.group(2)) for m in pattern.finditer(text)]
    if not pairs or pattern.sub("", text).strip(" ,;"):
        raise ConfigError(
            f"mask labels {text!r}: expected VALUE=CLASS pairs, e.g. '0=background,255=vessel' (colours: "
            "'255,0,0=background;0,0,255=nucleus'), or a JSON file"
        )
    return {_value_key(k): v.strip() for k, v in pairs}


def _is_file(text: str) -> bool:
    """Whether ``text`` names a file; a mapping too long for a file name (26 vertebrae) is none."""
    try:
        return Path(text).is_file()
    except OSError:
        return False


def _value_key(key: Any) -> str:
    """``"255"``, ``"0.5"`` or ``"255,0,0"`` (no spaces; integers without a decimal point)."""
    parts = [float(p) for p in str(key).replace(" ", "").split(",")]
    return ",".join(f"{p:g}" for p in parts)


def _normalise(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.strip().lower())


def _class_index(name: str, class_names: Sequence[str], what: str) -> int:
    if _normalise(name) == IGNORE_NAME:
        return IGNORE
    wanted = {_normalise(n): i for i, n in enumerate(class_names)}
    if _normalise(name) not in wanted:
        from medimg.errors import did_you_mean

        raise ConfigError(
            f"{what}: {name!r} is not one of the run's classes ({', '.join(class_names)}, or {IGNORE_NAME!r})."
            f"{did_you_mean(name, class_names)}"
        )
    return wanted[_normalise(name)]


def _from_mask_labels(
    labels: Mapping[str, str], survey: MaskSurvey, class_names: Sequence[str], note: str
) -> LabelEncoding:
    """The encoding ``mask_labels`` describes; every value in the masks must be named."""
    indices = {key: _class_index(name, class_names, f"mask label {key}={name}") for key, name in labels.items()}
    colours = {k: i for k, i in indices.items() if "," in k}
    named_values = {float(k): i for k, i in indices.items() if "," not in k}
    missing = [(f"{v:g}", f) for v, f in survey.values.items() if not any(abs(v - n) < 0.5 for n in named_values)]
    if colours or survey.colours:
        grey = {f"{int(v)},{int(v)},{int(v)}": i for v, i in named_values.items()}
        table = {**grey, **colours}
        missing = [(f"{r},{g},{b}", f) for (r, g, b), f in survey.colours.items() if f"{r},{g},{b}" not in table]
        missing += [(f"{v:g}", f) for v, f in survey.values.items() if f"{int(v)},{int(v)},{int(v)}" not in table]
        encoding = LabelEncoding(
            kind="colour",
            num_classes=len(class_names),
            colour_table=ColourTable(name="mask_labels", colours=table, class_names=list(class_names)),
            note=note,
        )
    else:
        encoding = LabelEncoding(kind="mapping", num_classes=len(class_names), value_map=named_values, note=note)
    if missing:
        value, source = missing[0]
        raise DatasetError(
            f"mask {source} holds {value}, which the mask labels do not name: add {value}=<class> (one of "
            f"{', '.join(class_names)}, or {IGNORE_NAME})"
        )
    return encoding


# --------------------------------------------------------------------------------------------- the decision
def fits_encoding(survey: MaskSurvey, encoding: LabelEncoding) -> bool:
    """True when every value of the survey means a class under ``encoding`` (the run's)."""
    values = list(survey.values)
    if encoding.snap and not survey.colours:  # lossy (JPEG) masks: values snapped to the run's levels
        values = sorted(set(snap_to_levels(np.asarray(values, dtype=np.float64), encoding.snap).tolist()))
    if encoding.kind == "colour":
        lookup = encoding.colour_table.lookup() if encoding.colour_table else {}
        return all(c in lookup for c in survey.colours) and all((int(v),) * 3 in lookup for v in values)
    if survey.colours or not values:
        return not survey.colours
    if encoding.kind == "identity":  # 255 would read as "ignore": only real class indices fit
        return all(v == int(v) and 0 <= v < encoding.num_classes for v in values)
    if encoding.kind == "values":
        return all(any(abs(v - known) < 0.5 for known in encoding.values) for v in values)
    if encoding.kind == "threshold":  # a two-valued mask must reach the threshold (0/1 masks do not reach 128)
        threshold = float(encoding.threshold or 0.5)
        return len(values) != 2 or max(values) >= threshold
    return all(any(abs(v - known) < 0.5 for known in encoding.value_map) for v in values)


def describe_encoding(encoding: LabelEncoding) -> str:
    """``"values 0/255"``, ``"class indices 0..2"``, ``"colour table 'herlev'"``, ... (for messages)."""
    if encoding.snap:
        levels = "/".join(f"{v:g}" for v in encoding.snap)
        plain = describe_encoding(encoding.model_copy(update={"snap": []}))
        return f"{plain} (JPEG values snapped to {levels})"
    if encoding.kind == "identity":
        return f"class indices 0..{encoding.num_classes - 1}"
    if encoding.kind == "values":
        return "values " + "/".join(f"{v:g}" for v in encoding.values)
    if encoding.kind == "threshold":
        return f"values thresholded at {encoding.threshold:g}"
    if encoding.kind == "colour":
        return f"colour table {encoding.colour_table.name if encoding.colour_table else '?'!r}"
    return "values " + "/".join(f"{v:g}" for v in sorted(encoding.value_map))


def external_label_encoding(
    survey: MaskSurvey,
    run_encoding: LabelEncoding,
    class_names: Sequence[str],
    *,
    colour_table: ColourTable | None = None,
    value_names: Mapping[int, str] | None = None,
    mask_labels: Mapping[str, str] | None = None,
    dataset_name: str = "the external set",
    own_data: bool = False,
) -> LabelEncoding:
    """How to read an external set's masks as the run's classes (see the module docstring for the rules).

    Args:
        survey: the values of all the set's masks (:func:`survey_masks`).
        run_encoding: the run's encoding (``plan.label_encoding``).
        class_names: the run's class names, index-aligned.
        colour_table: the set's own colour table (when it differs from the run's), for colour-coded masks.
        value_names: ``{value: name}`` the set gives (its ``dataset.json`` labels, its structure mask files).
        mask_labels: ``{raw value: class name}`` given by the user (:func:`parse_mask_labels`).
        own_data: the masks are the run's own training data (its test split): numbered as the run's by
            construction, so values of classes no training mask held are those classes (CTSpine1K's C1 and C2,
            only in test cases), not a renumbering.

    Returns:
        The run's encoding when the masks fit it, else a new encoding with a ``note`` saying how it maps.

    Raises:
        DatasetError: the mapping is ambiguous (the message names a file, the values and ``mask_labels``).
        ConfigError: ``mask_labels`` names a class the run does not have.
    """
    k = len(class_names)
    if mask_labels:
        return _from_mask_labels(mask_labels, survey, class_names, "mask values mapped by the given mask labels")
    by_name = _by_name(survey, class_names, colour_table, value_names)
    if isinstance(by_name, LabelEncoding):  # names win, even over values that happen to fit the run's encoding
        return run_encoding if _same_classes(survey, by_name, run_encoding) else by_name
    if fits_encoding(survey, run_encoding):
        if not own_data:
            _refuse_empty_classes(survey, run_encoding, class_names, dataset_name)
        return run_encoding
    snapped = _snapped_to_the_run(survey, run_encoding, dataset_name)
    if snapped is not None:
        return snapped
    unmatched = by_name
    own = _own_encoding(survey, colour_table)
    target = ", ".join(class_names)
    if own is not None and own.num_classes == k:
        mapped = _mapped_by_rank(own, class_names)
        note = (
            f"masks of {dataset_name} hold {survey.describe()}, not the run's {describe_encoding(run_encoding)}: "
            f"{unmatched}mapped by rank of values ({mapped})"
        )
        return own.model_copy(update={"note": note})
    source = _first_unfitting_file(survey, run_encoding)
    by_brightness = sorted(survey.colours, key=sum)[:8]
    example = _suggested_mapping(survey, run_encoding, class_names) or (
        ";".join(f"{r},{g},{b}={class_names[min(i, k - 1)]}" for i, (r, g, b) in enumerate(by_brightness))
    )
    found = f"{own.num_classes} classes" if own is not None else "colour-coded classes without a colour table"
    raise DatasetError(
        f"the masks of {dataset_name} (e.g. {source}) hold {survey.describe()} ({found}) but the run has {k} "
        f"classes ({target}) stored as {describe_encoding(run_encoding)}: {unmatched}say which value is which class "
        f"with --mask-labels '{example}' (Python: mask_labels=...; 'ignore' leaves a value out) or put a "
        'dataset.json with "labels": {"0": "background", ...} beside the masks'
    )


#: the most mask values a suggested ``--mask-labels`` names
SUGGESTED_VALUES = 40


def _suggested_mapping(survey: MaskSurvey, run_encoding: LabelEncoding, class_names: Sequence[str]) -> str:
    """The ``--mask-labels`` to suggest for the survey's gray values: each value the run's encoding knows as its
    class and the others ``ignore`` when it knows most of them (MM-WHS's codes 205..850 with a stray 421 in one test
    mask: by rank, every structure from 421 up was shifted one class and 850 left out); else by rank of values."""
    values = sorted(survey.values)[:SUGGESTED_VALUES]
    k = len(class_names)

    def known(value: float) -> int | None:
        if run_encoding.kind == "values":
            return next((i for i, v in enumerate(run_encoding.values) if abs(v - value) < 0.5), None)
        if run_encoding.kind == "mapping":
            return next((c for v, c in run_encoding.value_map.items() if abs(v - value) < 0.5), None)
        if run_encoding.kind == "identity" and value == int(value) and 0 <= value < run_encoding.num_classes:
            return int(value)
        return None

    classes = [known(v) for v in values]
    if 2 * sum(c is not None for c in classes) > len(values):
        return ",".join(
            f"{v:g}={class_names[c] if c is not None and c < k else IGNORE_NAME}"
            for v, c in zip(values, classes, strict=True)
        )
    return ",".join(f"{v:g}={class_names[min(i, k - 1)]}" for i, v in enumerate(values))


def _snapped_to_the_run(survey: MaskSurvey, run_encoding: LabelEncoding, dataset_name: str) -> LabelEncoding | None:
    """JPEG masks (small integer values with ringing) for a run trained on lossless ones: the run's encoding with
    every value snapped to the run's label values, when that makes them fit; else ``None``."""
    values = list(survey.values)
    lossy = any(is_lossy(source) for source in survey.values.values())
    if not lossy or survey.colours or run_encoding.snap or run_encoding.kind not in ("identity", "values"):
        return None
    if not all(v == int(v) and 0 <= v <= MAX_LABEL_VALUE for v in values):
        return None
    empty = set(unused_classes(run_encoding))
    if run_encoding.kind == "identity":
        levels = [float(k) for k in range(run_encoding.num_classes) if k not in empty]
    else:
        levels = list(run_encoding.values)
    note = (
        f"masks of {dataset_name} are JPEG files holding {survey.describe()} (JPEG changes values around edges): "
        f"every value snapped to the nearest of the run's values {'/'.join(f'{v:g}' for v in levels)}"
    )
    encoding = run_encoding.model_copy(update={"snap": levels, "note": note})
    return encoding if fits_encoding(survey, encoding) else None


def _refuse_empty_classes(
    survey: MaskSurvey, run_encoding: LabelEncoding, class_names: Sequence[str], dataset_name: str
) -> None:
    """Masks whose values fit the run's class indices but hit classes no training mask held (a run trained on
    0/1/4/7, masks renumbered 0/1/2/3 by another tool; BraTS 2023's 3 for BraTS 2021's 4): scored as they are,
    they would compare other structures class by class.

    Raises:
        DatasetError: naming a file, the values, and a ``--mask-labels`` mapping by rank of values.
    """
    empty = set(unused_classes(run_encoding))
    if not empty or survey.colours:
        return
    found = dict(survey.values)
    if run_encoding.snap:  # JPEG masks: as the run reads them
        snapped = snap_to_levels(np.asarray(list(found), dtype=np.float64), run_encoding.snap).tolist()
        found = {float(v): source for v, source in zip(snapped, found.values(), strict=True)}
    hits = sorted(int(v) for v in found if v == int(v) and int(v) in empty)
    if not hits:
        return
    used = [k for k in range(len(class_names)) if k not in empty]
    values = sorted(found)
    example = ",".join(f"{v:g}={class_names[used[min(i, len(used) - 1)]]}" for i, v in enumerate(values[:8]))
    raise DatasetError(
        f"the masks of {dataset_name} (e.g. {found[float(hits[0])]}) hold "
        f"{', '.join(f'{v:g}' for v in values)}, but the run's training masks never held "
        f"{', '.join(map(str, hits))} (the run's labels are {', '.join(map(str, used))}): the masks are numbered "
        f"differently (re-indexed by another tool?). Say which value is which class with --mask-labels "
        f"'{example}' (Python: mask_labels=...; 'ignore' leaves a value out)"
    )


def _same_classes(survey: MaskSurvey, one: LabelEncoding, other: LabelEncoding) -> bool:
    """True when both encodings give every value (colour) of the survey the same class."""
    from medimg.tasks.segment.labels import encode_mask

    if survey.colours:
        raw = np.array([list(c) for c in survey.colours], dtype=np.float32).T[:, None, :]  # (3, 1, N)
    else:
        raw = np.array([[list(survey.values)]], dtype=np.float32)  # (1, 1, N)
    try:
        return bool(np.array_equal(encode_mask(raw, one), encode_mask(raw, other)))
    except DatasetError:
        return False


def _first_unfitting_file(survey: MaskSurvey, run_encoding: LabelEncoding) -> str:
    """A mask file holding a value (or colour) that the run's encoding does not know (else the first file)."""
    for colour, source in survey.colours.items():
        if not fits_encoding(MaskSurvey(colours={colour: source}), run_encoding):
            return source
    for value, source in survey.values.items():
        if not fits_encoding(MaskSurvey(values={value: source}), run_encoding):
            return source
    return next(iter([*survey.colours.values(), *survey.values.values()]), "")


def _by_name(
    survey: MaskSurvey,
    class_names: Sequence[str],
    colour_table: ColourTable | None,
    value_names: Mapping[int, str] | None,
) -> LabelEncoding | str:
    """The mapping by class names the data gives, or a sentence saying why there is none ("" when no names)."""
    wanted = {_normalise(n) for n in class_names}
    if survey.colours and colour_table is not None and colour_table.class_names:
        names = {i: n for i, n in enumerate(colour_table.class_names)}
        source = f"colour table {colour_table.name!r}"
    elif not survey.colours and value_names:
        names = dict(value_names)
        source = "data's label names"  # its dataset.json, its structure files, its annotations' categories
    else:
        return ""
    unknown = [n for n in names.values() if _normalise(n) not in wanted]
    if unknown:
        return f"the {source} name {', '.join(map(repr, unknown))}, not among the run's classes; "
    index = {i: _class_index(n, class_names, source) for i, n in names.items()}
    note = f"mask classes mapped by name from the {source} ({', '.join(f'{n}' for n in names.values())})"
    k = len(class_names)
    if survey.colours and colour_table is not None:
        colours = {key: (IGNORE if i == IGNORE else index[i]) for key, i in colour_table.colours.items()}
        table = ColourTable(name=colour_table.name, colours=colours, class_names=list(class_names))
        return LabelEncoding(kind="colour", num_classes=k, colour_table=table, note=note)
    unnamed = [(v, f) for v, f in survey.values.items() if int(v) not in index]
    if unnamed:
        return f"the {source} do not name value {unnamed[0][0]:g} (in {unnamed[0][1]}); "
    value_map = {float(v): index[int(v)] for v in survey.values}
    return LabelEncoding(kind="mapping", num_classes=k, value_map=value_map, note=note)


def _own_encoding(survey: MaskSurvey, colour_table: ColourTable | None) -> LabelEncoding | None:
    """The set's own encoding, as training would find it, except that each distinct gray value is a class (label
    values 0/10/20 are 3 classes, in increasing order); ``None``: colour masks without a table."""
    if survey.colours:
        if colour_table is None:
            return None
        return determine_label_encoding([], colour_table=colour_table)
    if survey.binary_kinds == {"0/1", "0/255"}:  # as training reads them: 1 and 255 both foreground (the suggested
        return mixed_binary_encoding()  # mapping was 255=ignore, which scored a Dice of 0.26 for 0.58)
    values = sorted(survey.values)
    if 2 <= len(values) <= MAX_LABEL_VALUE:
        if len(values) > 2 and survey.borders == {values[-1]}:
            # the top level around every mask is the background (REFUGE's 255 background, 128 disc, 0 cup), as
            # training reads such masks: counted up, the background was scored as the run's last class
            values = values[::-1]
        return LabelEncoding(kind="values", num_classes=len(values), values=values)
    return determine_label_encoding(values)  # hundreds of values (JPEG masks): thresholded


def _mapped_by_rank(own: LabelEncoding, class_names: Sequence[str]) -> str:
    """``"0 -> background, 1 -> vessel"`` for a note."""
    if own.kind == "mapping":
        return ", ".join(f"{value:g} -> {class_names[k]}" for value, k in sorted(own.value_map.items()))
    if own.kind == "values":
        keys = [f"{v:g}" for v in own.values]
    elif own.kind == "threshold":
        keys = [f"< {own.threshold:g}", f">= {own.threshold:g}"]
    elif own.kind == "colour" and own.colour_table is not None:
        keys = [own.colour_table.class_names[i] for i in range(len(class_names))]
    else:
        keys = [str(i) for i in range(len(class_names))]
    return ", ".join(f"{key} -> {name}" for key, name in zip(keys, class_names, strict=False))
