"""Other libraries' log records that must not reach a user's terminal or the service's log.

pydicom logs every pixel decoder that failed on a compressed file at ERROR with its traceback (two tracebacks per
12-bit JPEG file on a machine with GDCM and Pillow); medimg names the file, its transfer syntax and the fix itself.
pydicom resets its logger's level when it is imported, so a level set before that is lost: a filter stays.
pydicom also reports every header value its validation rejects (a UID with a leading zero, a name over its length)
twice, as a log record and as a ``UserWarning``, quoting the value (a patient's ID, a UID): 132 lines for
``medimg check`` of a 48-file legacy export, and identifiers on the terminal; medimg reads such files anyway, so
these stay out too.
"""

from __future__ import annotations

import logging
import warnings

#: how pydicom's value validation begins its messages (``pydicom.valuerep.validate_value``)
VALUE_CHECK_MESSAGES = ("Invalid value for VR", "The value length", "Invalid value length")


def _without_tracebacks(record: logging.LogRecord) -> bool:
    if str(record.msg).startswith(VALUE_CHECK_MESSAGES):
        return False
    return record.exc_info is None and record.levelno < logging.ERROR


#: the pydicom loggers that log failures with tracebacks (a logger's filter sees only its own records, not its
#: children's)
DICOM_LOGGERS = ("pydicom", "pydicom.pixels.decoders.base", "pydicom.pixels.encoders.base")


def quiet_dicom_decoder_errors() -> None:
    """Drop pydicom's ERROR records, any record carrying a traceback and its value-validation reports (log records
    and warnings, :data:`VALUE_CHECK_MESSAGES`); its other warnings still pass (idempotent)."""
    for name in DICOM_LOGGERS:
        library = logging.getLogger(name)
        if _without_tracebacks not in library.filters:
            library.addFilter(_without_tracebacks)
    for start in VALUE_CHECK_MESSAGES:
        warnings.filterwarnings("ignore", message=start, category=UserWarning)
