"""``POST /v1/predictions``: upload an image, get a report id and the result: a label, probabilities and a heatmap
(classification), or per-class areas/volumes, a mask and an overlay (segmentation)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from medimg.serve.auth import require_token
from medimg.serve.dependencies import get_keys_in_process, get_pool, get_service, get_settings, get_storage
from medimg.serve.idempotency import REPLAYED_HEADER, KeysInProcess, caller_key, mismatch, upload_digest
from medimg.serve.reports import report_json
from medimg.serve.service import PredictionService
from medimg.serve.settings import ServeSettings
from medimg.serve.storage import KeyTaken, ReportRow, Storage, TokenInfo
from medimg.serve.uploads import REQUEST_BODY, read_upload
from medimg.serve.workers import InferencePool

logger = logging.getLogger("medimg.serve")

router = APIRouter(prefix="/v1", tags=["predictions"], dependencies=[Depends(require_token)])


@router.post(
    "/predictions",
    status_code=status.HTTP_201_CREATED,
    summary=(
        "Classify, segment or detect on an uploaded DICOM, NIfTI, PNG, JPEG, BMP, TIFF, PGM/PPM, MetaImage (.mha) "
        "or NRRD file and store the report"
    ),
    responses={
        200: {"description": "the report stored for this Idempotency-Key (a retried upload; Idempotent-Replayed)"},
        400: {"description": "empty, truncated or malformed upload, or a malformed Idempotency-Key"},
        401: {"description": "missing or invalid API token"},
        409: {"description": "a request with this Idempotency-Key is still being processed (Retry-After)"},
        413: {"description": "file or image too large"},
        415: {"description": "not a supported image format (judged from the content, not the name)"},
        422: {
            "description": "unreadable image, an image that does not fit the model, or an Idempotency-Key used for "
            "another file"
        },
        503: {
            "description": "the server is busy, the image took too long, or the database is unavailable (Retry-After "
            "when waiting helps)"
        },
    },
    openapi_extra=REQUEST_BODY,
)
async def create_prediction(
    request: Request,
    response: Response,
    service: PredictionService = Depends(get_service),
    settings: ServeSettings = Depends(get_settings),
    pool: InferencePool = Depends(get_pool),
    token: TokenInfo = Depends(require_token),
    storage: Storage = Depends(get_storage),
    keys: KeysInProcess = Depends(get_keys_in_process),
    explain_class: str | None = Query(
        None,
        description="a classifier's class (its name, any case, or index) the heatmap explains instead of the "
        "predicted one: 'where does it see pneumonia?' on an image called normal",
    ),
) -> dict[str, Any]:
    """The upload is read into memory (never written as received), then processed by the bounded inference pool.

    With an ``Idempotency-Key`` header a retried upload answers the report its first request stored (200,
    ``Idempotent-Replayed: true``) instead of predicting again (:mod:`medimg.serve.idempotency`).

    A segmentation model's report has a ``segmentation`` object: ``classes`` (per class ``count`` of pixels or
    voxels, ``area_mm2`` or ``volume_mm3`` when the spacing is known, ``fraction``, ``colour``), and the URLs of
    the ``mask`` (PNG, or NIfTI for volumes) and of the ``overlay`` PNG.
    """
    key = caller_key(request, token)
    data = await read_upload(request, settings.max_upload_bytes)
    with keys.hold(key):
        max_age_s = settings.idempotency_key_hours * 3600
        first = await run_in_threadpool(storage.report_for_key, key, max_age_s=max_age_s) if key else None
        if first is not None:
            row = _replay(first, data, response)
        else:
            try:
                row = await pool.run(
                    lambda guard: service.process(
                        data, guard=guard, idempotency_key=key, token_id=token.id, explain_class=explain_class
                    )
                )
            except KeyTaken as taken:  # another server stored a report for the key while this one predicted
                logger.info("another server stored report %s for this Idempotency-Key first", taken.first.id)
                row = _replay(taken.first, data, response)
    body = report_json(row)
    response.headers["Location"] = body["links"]["self"]  # 201 Created names what it created
    return body


def _replay(first: ReportRow, data: bytes, response: Response) -> ReportRow:
    """The answer to an upload whose key already names a stored report: that report (200, ``Idempotent-Replayed``)
    for the same file, a 422 for another one."""
    if first.upload_sha256 != upload_digest(data):
        raise mismatch()
    response.status_code = status.HTTP_200_OK
    response.headers[REPLAYED_HEADER] = "true"
    return first
