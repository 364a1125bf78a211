"""Pseudonyms of DICOM identifiers for what medimg writes and prints (``splits.json``, ``medimg check``).

A plain hash of a PatientID can be reversed: medical record numbers are short, so hashing every candidate finds the
one that matches (a tester recovered an 8-digit MRN from ``splits.json`` in 1.5 s). Here each value is hashed with
a key (HMAC-SHA-256) drawn from every identifier of the data set it belongs to (patient ids and study and series
UIDs): the same data always gives the same pseudonyms, so splits stay reproducible, while a reader of the run folder
alone, without every UID of the data, cannot test candidates.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["dataset_key", "pseudonym"]


def dataset_key(values: Iterable[object]) -> bytes:
    """The key for a data set's pseudonyms: SHA-256 of its distinct identifier values (empty ones ignored), in sorted
    order, so the key does not depend on the order the files were read in."""
    distinct = sorted({str(v) for v in values if v is not None and str(v) != ""})
    return hashlib.sha256("\0".join(distinct).encode("utf-8", "surrogateescape")).digest()


def pseudonym(value: object, key: bytes, length: int = 10) -> str:
    """The first ``length`` hex digits of HMAC-SHA-256 of ``value`` under ``key``."""
    return hmac.new(key, str(value).encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:length]
