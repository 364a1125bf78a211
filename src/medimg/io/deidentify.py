"""DICOM de-identification before anything is stored or logged (a subset of the DICOM PS3.15 basic profile).

What :func:`deidentify_dataset` does, recursively through sequences:

* removes the direct identifiers listed in :data:`REMOVED_KEYWORDS` (patient name, ID, birth date, address,
  other IDs, accession number, institution, physicians, operators, station, study ID, comments...),
* removes every other person name (VR ``PN``), every date/time of birth, and all private tags,
* replaces instance UIDs (study, series, SOP instance, frame of reference, referenced instances...) with
  ``2.25.<n>`` UIDs derived from the original by a keyed hash (HMAC-SHA256 with a secret ``salt``): the same
  original UID always maps to the same new one under the same salt, so series stay together, and nobody
  without the salt can map them back,
* sets PatientIdentityRemoved = YES and records the method.

Example:
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    >>> _ = deidentify_dataset(ds, salt="secret")
    >>> "PatientName" in ds, ds.PatientIdentityRemoved
    (False, 'YES')
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

METHOD = "medimg PS3.15 subset: identifiers removed, UIDs keyed-hashed"
"""DeidentificationMethod (VR LO: at most 64 characters)."""

REMOVED_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientAge",
    "MedicalRecordLocator",
    "MilitaryRank",
    "BranchOfService",
    "Occupation",
    "PatientInsurancePlanCodeSequence",
    "AdditionalPatientHistory",
    "PatientComments",
    "AccessionNumber",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "InstitutionCodeSequence",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "OperatorsName",
    "StationName",
    "DeviceSerialNumber",
    "RequestAttributesSequence",
    "ImageComments",
    "StudyComments",
    "CurrentPatientLocation",
    "PatientState",
    "ResponsiblePerson",
    "ResponsibleOrganization",
)
"""Attributes removed outright (wherever they occur)."""

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


def new_uid(uid: str, salt: str) -> str:
    """The replacement for ``uid``: ``2.25.`` + a 128-bit integer from HMAC-SHA256(salt, uid) (<= 64 chars)."""
    digest = hmac.new(salt.encode(), uid.strip().encode(), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _walk(dataset: Any, salt: str, changed: set[str]) -> None:
    for keyword in REMOVED_KEYWORDS:
        if keyword in dataset:
            delattr(dataset, keyword)
            changed.add(keyword)
    for element in list(dataset):
        keyword = element.keyword or str(element.tag)
        if element.VR == "SQ":
            for item in element.value or []:
                _walk(item, salt, changed)
        elif element.VR == "PN":
            del dataset[element.tag]
            changed.add(keyword)
        elif element.VR == "UI" and keyword not in KEPT_UID_KEYWORDS and element.value:
            values = element.value if element.VM > 1 else [element.value]
            replaced = [new_uid(str(v), salt) for v in values]
            element.value = replaced if element.VM > 1 else replaced[0]
            changed.add(keyword)


def deidentify_dataset(dataset: Any, *, salt: str) -> list[str]:
    """De-identify a pydicom ``Dataset`` in place (and its ``file_meta``).

    Args:
        dataset: a ``pydicom.Dataset``.
        salt: the secret key of the UID mapping (keep it stable for consistent UIDs; never publish it).

    Returns:
        The sorted keywords that were removed or replaced.
    """
    changed: set[str] = set()
    dataset.remove_private_tags()
    _walk(dataset, salt, changed)
    file_meta = getattr(dataset, "file_meta", None)
    if file_meta is not None and "MediaStorageSOPInstanceUID" in file_meta:
        file_meta.MediaStorageSOPInstanceUID = new_uid(str(file_meta.MediaStorageSOPInstanceUID), salt)
        changed.add("MediaStorageSOPInstanceUID")
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    return sorted(changed)


def deidentify_file(path: str | os.PathLike[str], *, salt: str, out: str | os.PathLike[str] | None = None) -> Any:
    """Read a DICOM file, de-identify it and write it back (to ``out``, default over ``path``).

    Returns:
        The de-identified ``pydicom.Dataset``.

    Raises:
        ImageReadError: the file is not readable DICOM.
    """
    import pydicom

    from medimg.errors import ImageReadError

    source = Path(path)
    try:
        dataset = pydicom.dcmread(source, force=True)
    except Exception as error:  # pydicom raises many types for broken files
        raise ImageReadError(source, f"the DICOM data cannot be parsed ({type(error).__name__})") from error
    deidentify_dataset(dataset, salt=salt)
    try:
        dataset.save_as(Path(out) if out else source, enforce_file_format=False)
    except TypeError:  # pydicom < 3 has no enforce_file_format
        dataset.save_as(Path(out) if out else source)
    except Exception as error:
        raise ImageReadError(source, f"the DICOM data cannot be rewritten ({type(error).__name__})") from error
    return dataset
