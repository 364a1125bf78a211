"""Label tables kept as Excel workbooks (``labels.xlsx``; Messidor's ``Annotation_Base11.xls``), read as a CSV
manifest is: the first worksheet with a row of column names, that row as the header, the rows below as text.

Clinicians keep labels in spreadsheets, and many public sets ship them so. Cells become the text a CSV export
would hold: whole numbers without ``.0`` (``17``, not ``17.0``: an id that names ``17.png``), other numbers as
Python writes them, ``TRUE``/``FALSE`` as ``1``/``0``, dates in ISO form, empty cells as ``""``; rows with no value
are skipped. ``.xlsx``/``.xlsm`` are read with openpyxl (values, not formulas), ``.xls`` with xlrd.

Example:
    >>> columns, rows = read_sheet(Path("labels.xlsx"))                          # doctest: +SKIP
    >>> columns, rows[0]                                                         # doctest: +SKIP
    (['Image name', 'Retinopathy grade'], {'Image name': '20051019_38557_0100_PP.tif', 'Retinopathy grade': '3'})
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medimg.data.layouts.columns import PATH_COLUMNS, column_key
from medimg.errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["SPREADSHEET_SUFFIXES", "cell_text", "is_spreadsheet", "read_sheet"]

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls")


def is_spreadsheet(path: Path) -> bool:
    """An Excel workbook by its suffix; not Excel's lock file (``~$labels.xlsx``) beside an open workbook."""
    return path.suffix.lower() in SPREADSHEET_SUFFIXES and not path.name.startswith("~$")


#: how many rows from a sheet's top the header row is looked for in (title rows above it: "Labels, study X")
HEADER_SEARCH_ROWS = 30


def _path_column_names() -> frozenset[str]:
    """Column names (:func:`~medimg.data.layouts.columns.column_key`) that name images in a label table."""
    return frozenset(PATH_COLUMNS)  # box tables' image columns are among them


def _header_at(top: list[list[str]]) -> tuple[int, bool]:
    """Where a sheet's header row is among its first rows ``top`` (the rows with values), and whether it names a
    column of images: the first row that does (title rows, an export's date, above it), else the first row of two
    or more values after rows of one value at most (titles), else the first row."""
    names = _path_column_names()
    for n, row in enumerate(top):
        if any(column_key(cell) in names for cell in row if cell):
            return n, True
    wide = next((n for n, row in enumerate(top) if sum(1 for cell in row if cell) >= 2), 0)
    return wide, False


def read_sheet(path: Path, *, header_only: bool = False) -> tuple[list[str], list[dict[str, str]]]:
    """The column names and rows of the worksheet holding the labels (see the module doc): the first whose header
    row names a column of images (``Image``, ``filename``, ``path``...), else the first holding data. The header
    is that row, below any title rows. Sheets named for splits (``train``, ``test``...) with one header are read
    together, a ``split`` column added from their names; other sheets holding data are not read, with a warning.

    Args:
        header_only: read the column names only (no rows).

    Raises:
        DatasetError: the file is not a workbook its suffix says, is protected, or has no row with data.
    """
    from medimg.data.case import normalise_split

    try:
        sheets: list[tuple[str, list[list[str]], int, bool]] = []  # title, rows with values, header's index, named
        for title, rows in _sheets(path):  # lazily: a large workbook's header is found without reading its rows
            table = ([cell_text(cell) for cell in row] for row in rows)
            top = list(itertools.islice((row for row in table if any(row)), HEADER_SEARCH_ROWS))
            if top:
                at, named = _header_at(top)
                sheets.append((title, [*top, *([] if header_only else (row for row in table if any(row)))], at, named))
        if not sheets:
            raise DatasetError(f"the spreadsheet {path} has no rows with values: put the labels in its first worksheet")
        chosen = next((sheet for sheet in sheets if sheet[3]), sheets[0])

        def header_of(sheet: tuple[str, list[list[str]], int, bool]) -> list[str]:
            return [name.strip() or f"column_{n}" for n, name in enumerate(sheet[1][sheet[2]], start=1)]

        header = header_of(chosen)
        keys = [column_key(name) for name in header]
        together = [
            sheet
            for sheet in sheets
            if normalise_split(sheet[0]) and [column_key(name) for name in header_of(sheet)] == keys
        ]
        if chosen not in together or len(together) < 2 or {"split", "subset", "fold"} & set(keys):
            together = [chosen]
        elif not header_only:
            logger.info(
                "%s: sheets %s read as one table, each row's split the name of its sheet",
                path,
                ", ".join(repr(sheet[0]) for sheet in together),
            )
        header = [*header, "split"] if len(together) > 1 else header
        if header_only:
            return header, []
        others = [sheet[0] for sheet in sheets if sheet not in together]
        if others:
            logger.warning(
                "%s: labels from its sheet %r; its other sheet(s) %s are not read: if they hold labels too, put "
                "every label in one sheet (a split column tells train from test), or save each sheet as a CSV",
                path,
                chosen[0],
                ", ".join(repr(o) for o in others),
            )
        width = len(header) - (len(together) > 1)
        records: list[dict[str, str]] = []
        for title, rows_in, at, _ in together:
            if at:
                logger.info("%s: sheet %r: the %d row(s) above its header row are a title, not read", path, title, at)
            split = [title] if len(together) > 1 else []
            for row in rows_in[at + 1 :]:
                cells = [*row[:width], *[""] * (width - len(row)), *split]
                records.append(dict(zip(header, cells, strict=False)))
        return header, records
    except DatasetError:
        raise
    except Exception as error:  # openpyxl/xlrd raise many types for a damaged or mislabelled file
        raise DatasetError(
            f"cannot read the spreadsheet {path} ({type(error).__name__}: {error}): open it in a spreadsheet program "
            "and save it again as .xlsx, or export the sheet as CSV (UTF-8)"
        ) from error


def _sheets(path: Path) -> Iterable[tuple[str, Iterable[Iterable[Any]]]]:
    """Each worksheet's title and rows of cell values, in workbook order."""
    if path.suffix.lower() == ".xls":
        import xlrd

        book = xlrd.open_workbook(str(path), on_demand=True)
        try:
            for sheet in book.sheets():
                yield (
                    sheet.name,
                    ([_xls_value(cell, book.datemode) for cell in sheet.row(r)] for r in range(sheet.nrows)),
                )
        finally:
            book.release_resources()
        return
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            yield sheet.title, sheet.iter_rows(values_only=True)
    finally:
        book.close()


def _xls_value(cell: Any, datemode: int) -> Any:
    import xlrd

    if cell.ctype == xlrd.XL_CELL_DATE:
        return xlrd.xldate.xldate_as_datetime(cell.value, datemode)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    return cell.value


def cell_text(value: Any) -> str:
    """A cell (or a JSON value) as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value).strip()
