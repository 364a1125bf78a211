"""Objects the endpoints get with ``Depends``: settings, storage and the prediction service.

Tests replace any of them with ``app.dependency_overrides[get_settings] = ...``.
"""

from __future__ import annotations

from fastapi import Depends, Request

from medimg.serve.auth import get_storage, require_token
from medimg.serve.idempotency import KeysInProcess
from medimg.serve.service import PredictionService
from medimg.serve.settings import ServeSettings
from medimg.serve.storage import EVERY_REPORT, Scope, TokenInfo
from medimg.serve.workers import InferencePool

__all__ = ["get_keys_in_process", "get_pool", "get_scope", "get_service", "get_settings", "get_storage"]


def get_settings(request: Request) -> ServeSettings:
    """The settings the app was created with."""
    settings: ServeSettings = request.app.state.settings
    return settings


def get_scope(request: Request, token: TokenInfo = Depends(require_token)) -> Scope:
    """Whose reports the caller reaches: every report with an admin token or on a server started with
    ``--shared-reports``, else those its token created."""
    shared = get_settings(request).shared_reports
    return EVERY_REPORT if token.admin or shared else Scope(token.id)


def get_service(request: Request) -> PredictionService:
    """The prediction service (model loaded once, in the lifespan)."""
    service: PredictionService = request.app.state.service
    return service


def get_pool(request: Request) -> InferencePool:
    """The bounded inference pool (made in the lifespan)."""
    pool: InferencePool = request.app.state.pool
    return pool


def get_keys_in_process(request: Request) -> KeysInProcess:
    """The idempotency keys this process is still answering (made with the app)."""
    keys: KeysInProcess = request.app.state.keys_in_process
    return keys
