"""Other libraries' log records that must not reach a user's terminal or the service's log.

pydicom logs every pixel decoder that failed on a compressed file at ERROR with its traceback (two tracebacks per
12-bit JPEG file on a machine with GDCM and Pillow); medimg names the file, its transfer syntax and the fix itself.
pydicom resets its logger's level when it is imported, so a level set before that is lost: a filter stays.
"""

from __future__ import annotations

import logging


def _without_tracebacks(record: logging.LogRecord) -> bool:
    return record.exc_info is None and record.levelno < logging.ERROR


#: the pydicom loggers that log failures with tracebacks (a logger's filter sees only its own records, not its
#: children's)
DICOM_LOGGERS = ("pydicom", "pydicom.pixels.decoders.base", "pydicom.pixels.encoders.base")


def quiet_dicom_decoder_errors() -> None:
    """Drop pydicom's ERROR records and any record carrying a traceback; its warnings still pass (idempotent)."""
    for name in DICOM_LOGGERS:
        library = logging.getLogger(name)
        if _without_tracebacks not in library.filters:
            library.addFilter(_without_tracebacks)
