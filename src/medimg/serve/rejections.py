"""The service's refusal of an upload: a 4xx status and a message the client can act on (no HTTP here)."""

from __future__ import annotations

__all__ = ["UploadRejected"]


class UploadRejected(Exception):
    """An upload the service refuses; ``status_code`` is a 4xx and ``message`` says why and what to do."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
