"""DICOM de-identification with the DICOM PS3.15 Annex E *Basic Application Level Confidentiality Profile*.

The profile's table (PS3.15 Table E.1-1: ~650 attributes, each with an action) comes from ``dicom-anonymizer``
(KitwareMedical), which transcribes it from the standard release by release; medimg uses its
:data:`PROFILE_TABLE` edition. :func:`deidentify_dataset` applies it, recursively through every sequence item:

=========  =====================================================================================================
Action     What medimg does
=========  =====================================================================================================
``X``      remove the attribute
``Z``      empty it (zero length; dates become the dummy ``00010101``; a sequence becomes empty)
``D``      replace it with a dummy of its VR (``ANONYMIZED``, ``0``, ``00010101``...); in a sequence, every value
``U``      replace the UID with ``2.25.<n>`` from a keyed hash of the original (HMAC-SHA256 under a secret
           ``salt``): the same UID always maps to the same new one, so series stay together, and nobody without
           the salt can map them back
``Z/D``    ``Z``; ``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``: ``X`` -- where the table allows a choice, the option
           that keeps the least (the de-identified dataset is read for its pixels and a few facts, never
           re-exported, so IOD conformance does not call for more)
=========  =====================================================================================================

On top of the profile: all private tags are removed (the profile's default), every other instance UID is
replaced the same keyed way (class, transfer-syntax and coding-scheme UIDs are kept), and PatientIdentityRemoved,
DeidentificationMethod and DeidentificationMethodCodeSequence (``113100``, the basic profile) are set.

Example:
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    >>> _ = deidentify_dataset(ds, salt="secret")
    >>> str(ds.PatientName), "StudyDescription" in ds, ds.PatientIdentityRemoved
    ('', False, 'YES')
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

PROFILE_TABLE = "dicomfields_2026c"
"""The edition of PS3.15 Table E.1-1 used (a module of ``dicomanonymizer.dicom_anonymization_databases``)."""

METHOD = "DICOM PS3.15 E basic profile (table 2026c), keyed UIDs"
"""DeidentificationMethod (VR LO: at most 64 characters)."""

ACTIONS: dict[str, str] = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}
"""The table's action codes, by ``dicom-anonymizer``'s category name."""

APPLIED: dict[str, str] = {"D": "D", "Z": "Z", "X": "X", "U": "U", "Z/D": "Z", "X/Z": "X", "X/D": "X"}
APPLIED |= {"X/Z/D": "X", "X/Z/U*": "X"}
"""The action medimg applies for each code of the table (the choice that keeps the least)."""

KEPT_UID_KEYWORDS = frozenset(
    {
        "SOPClassUID",
        "MediaStorageSOPClassUID",
        "ReferencedSOPClassUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
    }
)
"""UIDs that name standard classes/syntaxes rather than instances: never replaced."""

_DUMMY_DATE = {"DA": "00010101", "DT": "00010101010101.000000+0000", "TM": "000000.00"}
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


class BasicProfile:
    """PS3.15 Table E.1-1: the action code (``"X"``, ``"Z"``, ``"X/Z/D"``...) of each tag it lists.

    Args:
        exact: action code by tag (``(group << 16) | element``).
        masked: ``(group, element, group mask, element mask, code)`` for repeating groups (curves, overlays).
    """

    def __init__(self, exact: dict[int, str], masked: list[tuple[int, int, int, int, str]]) -> None:
        self.exact = exact
        self.masked = masked

    def code(self, tag: int) -> str | None:
        """The table's action code for ``tag``, or None when the profile keeps it (``K`` or not listed)."""
        found = self.exact.get(int(tag))
        if found is not None:
            return found
        group, element = int(tag) >> 16, int(tag) & 0xFFFF
        for g, e, group_mask, element_mask, code in self.masked:
            if group & group_mask == g & group_mask and element & element_mask == e & element_mask:
                return code
        return None


@cache
def basic_profile() -> BasicProfile:
    """The table of :data:`PROFILE_TABLE` (loaded once).

    Raises:
        MissingDependencyError: ``dicom-anonymizer`` is not installed.
    """
    try:
        from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
    except ImportError as error:
        from medimg.errors import MissingDependencyError

        raise MissingDependencyError("dicom-anonymizer", "serve") from error
    table = dicom_anonymization_database_selector(PROFILE_TABLE)
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for category, code in ACTIONS.items():
        for entry in table[category]:
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = code
            else:
                masked.append((entry[0], entry[1], entry[2], entry[3], code))
    return BasicProfile(exact, masked)


def new_uid(uid: str, salt: str) -> str:
    """The replacement for ``uid``: ``2.25.`` + a 128-bit integer from HMAC-SHA256(salt, uid) (<= 64 chars)."""
    digest = hmac.new(salt.encode(), uid.strip().encode(), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _replace_uids(element: Any, salt: str) -> None:
    if not element.value:
        return
    if element.VM > 1:
        element.value = [new_uid(str(v), salt) for v in element.value]
    else:
        element.value = new_uid(str(element.value), salt)


def _empty(element: Any) -> None:
    """``Z``: zero length (a dummy date for DA/DT/TM, as ``dicom-anonymizer`` does)."""
    if element.VR == "SQ":
        element.value = []
    elif element.VR in _DUMMY_DATE:
        element.value = _DUMMY_DATE[element.VR]
    elif element.VR in _BINARY_VRS:
        element.value = b""
    else:
        element.value = None


def _dummy(dataset: Any, element: Any, salt: str) -> None:
    """``D``: a non-empty dummy of the element's VR (``dicom-anonymizer``'s); in a sequence, every value."""
    from dicomanonymizer.simpledicomanonymizer import replace_element

    if element.VR == "UI":
        _replace_uids(element, salt)
    elif element.VR == "SQ":
        for item in element.value or []:
            for inner in list(item):
                _dummy(item, inner, salt)
    else:
        try:
            replace_element(element)
        except NotImplementedError:  # a VR it has no dummy for (OW, AT...): remove instead
            del dataset[element.tag]


def _apply_profile(dataset: Any, profile: BasicProfile, salt: str, changed: set[str]) -> None:
    for element in list(dataset):
        code = profile.code(element.tag)
        keyword = element.keyword or str(element.tag)
        action = APPLIED[code] if code is not None else None
        if action == "X":
            del dataset[element.tag]
        elif action == "Z":
            _empty(element)
        elif action == "D":
            _dummy(dataset, element, salt)
        elif action == "U" or (
            element.VR == "UI" and element.value and keyword not in KEPT_UID_KEYWORDS and not element.tag.is_private
        ):
            _replace_uids(element, salt)
        elif element.VR == "SQ":  # kept: its items are de-identified the same way
            for item in element.value or []:
                _apply_profile(item, profile, salt, changed)
            continue
        else:
            continue
        changed.add(keyword)


def deidentify_dataset(dataset: Any, *, salt: str) -> list[str]:
    """De-identify a pydicom ``Dataset`` in place (and its ``file_meta``) with the PS3.15 basic profile.

    Args:
        dataset: a ``pydicom.Dataset``.
        salt: the secret key of the UID mapping (keep it stable for consistent UIDs; never publish it).

    Returns:
        The sorted keywords that were removed, emptied or replaced (top level and inside sequences).

    Raises:
        MissingDependencyError: ``dicom-anonymizer`` (the profile's table) is not installed.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    profile = basic_profile()
    changed: set[str] = set()
    dataset.remove_private_tags()  # recursive
    _apply_profile(dataset, profile, salt, changed)
    file_meta = getattr(dataset, "file_meta", None)
    if file_meta is not None:
        _apply_profile(file_meta, profile, salt, changed)
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    dataset.DeidentificationMethodCodeSequence = Sequence([code])
    return sorted(changed)


_QUIET_LOCK = threading.Lock()
_QUIET_THREADS: set[int] = set()
"""The threads de-identifying now: pydicom's log records from them are dropped (:func:`_from_other_threads`)."""


def _from_other_threads(record: logging.LogRecord) -> bool:
    return record.thread not in _QUIET_THREADS


@contextmanager
def _pydicom_silenced() -> Iterator[None]:
    """pydicom neither validates nor warns nor logs while the original file is parsed, de-identified and saved.

    pydicom's value validation (on by default: ``reading_validation_mode`` WARN) echoes each malformed value it
    meets -- ``Invalid value for VR UI: '1.2.840...0604688.1'`` -- as a ``UserWarning`` and a ``pydicom`` log
    record, *before* de-identification replaces the value: the original Study/Series/SOP UIDs (or an MRN inside
    one) would reach the service's log. Here validation is off (a malformed UID is replaced like any other),
    warnings are suppressed, and the ``pydicom`` logger drops this thread's records. pydicom's settings and
    Python's warning filters are process-wide, so one de-identification runs at a time; a warning another thread
    raises during that window (milliseconds) is not shown either.
    """
    from pydicom import config

    library = logging.getLogger("pydicom")
    with _QUIET_LOCK:
        if _from_other_threads not in library.filters:
            library.addFilter(_from_other_threads)
        reading, writing = config.settings._reading_validation_mode, config.settings._writing_validation_mode
        _QUIET_THREADS.add(threading.get_ident())
        try:
            config.settings.reading_validation_mode = config.IGNORE
            config.settings.writing_validation_mode = config.IGNORE
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            config.settings._reading_validation_mode = reading
            config.settings._writing_validation_mode = writing
            _QUIET_THREADS.discard(threading.get_ident())


def deidentify_bytes(data: bytes, *, salt: str) -> tuple[bytes, Any]:
    """De-identify a DICOM file held in memory: nothing of the original is written anywhere, nor logged (pydicom's
    warnings about malformed values, which quote the values, are silenced: :func:`_pydicom_silenced`).

    Returns:
        ``(the de-identified file's bytes, its pydicom Dataset)``.

    Raises:
        ValueError: the bytes are not DICOM pydicom can parse and rewrite (the message names no value). Only
            what pydicom parsed is written back: bytes after a truncation point are dropped, never copied.
    """
    with _pydicom_silenced():
        return _deidentify_bytes(data, salt=salt)


def _deidentify_bytes(data: bytes, *, salt: str) -> tuple[bytes, Any]:
    import pydicom

    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
        for _ in dataset.iterall():  # every element parsed now: a broken one fails here, not half-way through
            pass
    except Exception as error:  # pydicom raises many types for broken files
        raise ValueError(f"the DICOM data cannot be parsed ({type(error).__name__})") from error
    if len(dataset) == 0:
        raise ValueError("the DICOM data cannot be parsed (no data element could be read after the header)")
    deidentify_dataset(dataset, salt=salt)
    buffer = io.BytesIO()
    try:
        dataset.save_as(buffer, enforce_file_format=False)
    except Exception as error:
        raise ValueError(f"the DICOM data cannot be rewritten ({type(error).__name__})") from error
    return buffer.getvalue(), dataset


def deidentify_file(path: str | os.PathLike[str], *, salt: str, out: str | os.PathLike[str] | None = None) -> Any:
    """Read a DICOM file, de-identify it and write it back (to ``out``, default over ``path``).

    Returns:
        The de-identified ``pydicom.Dataset``.

    Raises:
        ImageReadError: the file is not readable DICOM.
    """
    from medimg.errors import ImageReadError
    from medimg.fileio import atomic_write_bytes

    source = Path(path)
    try:
        data, dataset = deidentify_bytes(source.read_bytes(), salt=salt)
    except (OSError, ValueError) as error:
        raise ImageReadError(source, str(error)) from error
    atomic_write_bytes(Path(out) if out else source, data)
    return dataset
