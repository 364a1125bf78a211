"""Idempotency keys for ``POST /v1/predictions``: a client that retries an upload after a lost answer (a timeout,
a dropped connection, a proxy's 502) gets the report its first request stored, not a second one.

The client sends ``Idempotency-Key: <a unique value per upload>`` (the IETF draft
"The Idempotency-Key HTTP Header Field", as Stripe's and PayPal's APIs read it; a UUID is usual):

* the first request with a key is processed and its report stored with the key (``201 Created``);
* a later request with the key and the same file answers that report (``200 OK``, ``Idempotent-Replayed: true``)
  without predicting again;
* the key with another file is refused (``422``): a key names one upload;
* while the first request is still being processed, another with its key gets ``409 Conflict`` and
  ``Retry-After`` (in this server process; between processes the database's unique key keeps the first report,
  and the later request is answered as a retry of it: the replay for the same file, ``422`` for another).

A key names its upload for ``idempotency_key_hours`` (24 by default, as Stripe keeps keys): sent again later it
is a new upload, predicted and stored anew (the old report is kept, without the key), so a client that reuses keys
(a counter per day) is never answered an old report.

A key belongs to its caller (it is stored with the caller's token id), so two callers' keys never meet. Requests
without the header work as before.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, Request, status

from medimg.serve.storage import TokenInfo

#: the request header a client names its upload by
HEADER = "Idempotency-Key"
#: the response header of an answer that repeats a stored report
REPLAYED_HEADER = "Idempotent-Replayed"
#: the longest key accepted (the stored key adds the token id)
MAX_KEY_LENGTH = 255
#: seconds a client is asked to wait before retrying a key still being processed
RETRY_AFTER_S = 2


def caller_key(request: Request, token: TokenInfo) -> str | None:
    """The request's idempotency key, scoped to the caller (``<token id>:<key>``); ``None`` without the header.

    Raises:
        HTTPException: 400 for an empty key, one longer than :data:`MAX_KEY_LENGTH`, or one with characters
            other than visible ASCII.
    """
    given = request.headers.get(HEADER)
    if given is None:
        return None
    key = given.strip().strip('"')  # the draft writes it as a quoted string; clients send it bare too
    if not key or len(key) > MAX_KEY_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (a UUID is usual), one "
            "value per upload",
        )
    return f"{token.id}:{key}"


def upload_digest(data: bytes) -> str:
    """The SHA-256 of an upload as received: what a repeated key's file is compared by."""
    return hashlib.sha256(data).hexdigest()


def mismatch() -> HTTPException:
    """The answer to a key sent again with another file."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"this {HEADER} was used for another file: a key names one upload; send a new key for a new file",
    )


class KeysInProcess:
    """The keys whose first request this server process is still processing."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key: str | None) -> Iterator[None]:
        """Mark ``key`` as being processed for the block (nothing for ``None``).

        Raises:
            HTTPException: 409 with ``Retry-After`` when the key is already being processed.
        """
        if key is None:
            yield
            return
        with self._lock:
            if key in self._keys:
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    f"a request with this {HEADER} is still being processed; retry in a moment to get its report",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            self._keys.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard(key)
