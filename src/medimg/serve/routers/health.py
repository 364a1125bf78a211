"""``GET /healthz``: the only endpoint without a token (for load balancers and orchestrators)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from medimg.serve.auth import get_storage
from medimg.serve.storage import Storage

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and readiness")
def healthz(request: Request, storage: Storage = Depends(get_storage)) -> JSONResponse:
    model_loaded = getattr(request.app.state, "service", None) is not None
    try:
        database = "ok" if storage.ping() else "error"
        if database == "ok" and storage.read_only():  # reports could not be stored: every upload would be a 503
            database = "read-only"
    except Exception:  # the database being down is exactly what this endpoint reports
        database = "error"
    ok = model_loaded and database == "ok"
    body: dict[str, Any] = {"status": "ok" if ok else "error", "model_loaded": model_loaded, "database": database}
    return JSONResponse(body, status_code=200 if ok else 503)
