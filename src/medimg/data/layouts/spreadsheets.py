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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medimg.errors import DatasetError

__all__ = ["SPREADSHEET_SUFFIXES", "is_spreadsheet", "read_sheet"]

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls")


def is_spreadsheet(path: Path) -> bool:
    """An Excel workbook by its suffix; not Excel's lock file (``~$labels.xlsx``) beside an open workbook."""
    return path.suffix.lower() in SPREADSHEET_SUFFIXES and not path.name.startswith("~$")


def read_sheet(path: Path, *, header_only: bool = False) -> tuple[list[str], list[dict[str, str]]]:
    """The column names and rows of the first worksheet holding data (see the module doc).

    Args:
        header_only: read the column names only (no rows).

    Raises:
        DatasetError: the file is not a workbook its suffix says, is protected, or has no row with data.
    """
    try:
        for rows in _sheets(path):  # lazily: the header of a large workbook is found without reading its rows
            table = ([_text(cell) for cell in row] for row in rows)
            first = next((row for row in table if any(row)), None)
            if first is None:
                continue
            header = [name.strip() or f"column_{n}" for n, name in enumerate(first, start=1)]
            if header_only:
                return header, []
            width = len(header)
            records = [dict(zip(header, [*row, *[""] * (width - len(row))], strict=False)) for row in table if any(row)]
            return header, records
    except DatasetError:
        raise
    except Exception as error:  # openpyxl/xlrd raise many types for a damaged or mislabelled file
        raise DatasetError(
            f"cannot read the spreadsheet {path} ({type(error).__name__}: {error}): open it in a spreadsheet program "
            "and save it again as .xlsx, or export the sheet as CSV (UTF-8)"
        ) from error
    raise DatasetError(f"the spreadsheet {path} has no rows with values: put the labels in its first worksheet")


def _sheets(path: Path) -> Iterable[Iterable[Iterable[Any]]]:
    """Each worksheet's rows of cell values, in workbook order."""
    if path.suffix.lower() == ".xls":
        import xlrd

        book = xlrd.open_workbook(str(path), on_demand=True)
        try:
            for sheet in book.sheets():
                yield ([_xls_value(cell, book.datemode) for cell in sheet.row(r)] for r in range(sheet.nrows))
        finally:
            book.release_resources()
        return
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            yield sheet.iter_rows(values_only=True)
    finally:
        book.close()


def _xls_value(cell: Any, datemode: int) -> Any:
    import xlrd

    if cell.ctype == xlrd.XL_CELL_DATE:
        return xlrd.xldate.xldate_as_datetime(cell.value, datemode)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    return cell.value


def _text(value: Any) -> str:
    """A cell as the text a CSV export would hold."""
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
