"""``POST /v1/predictions``: upload an image, get a report id and the result: a label, probabilities and a heatmap
(classification), or per-class areas/volumes, a mask and an overlay (segmentation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status

from medimg.serve.auth import require_token
from medimg.serve.dependencies import get_pool, get_service, get_settings
from medimg.serve.reports import report_json
from medimg.serve.service import PredictionService
from medimg.serve.settings import ServeSettings
from medimg.serve.uploads import REQUEST_BODY, read_upload
from medimg.serve.workers import InferencePool

router = APIRouter(prefix="/v1", tags=["predictions"], dependencies=[Depends(require_token)])


@router.post(
    "/predictions",
    status_code=status.HTTP_201_CREATED,
    summary=(
        "Classify, segment or detect on an uploaded DICOM, NIfTI, PNG, JPEG, BMP, TIFF, PGM/PPM, MetaImage (.mha) "
        "or NRRD file and store the report"
    ),
    responses={
        400: {"description": "empty, truncated or malformed upload"},
        401: {"description": "missing or invalid API token"},
        413: {"description": "file or image too large"},
        415: {"description": "not a supported image format (judged from the content, not the name)"},
        422: {"description": "unreadable image, or an image that does not fit the model"},
        503: {"description": "the server is busy or the image took too long (Retry-After when waiting helps)"},
    },
    openapi_extra=REQUEST_BODY,
)
async def create_prediction(
    request: Request,
    response: Response,
    service: PredictionService = Depends(get_service),
    settings: ServeSettings = Depends(get_settings),
    pool: InferencePool = Depends(get_pool),
) -> dict[str, Any]:
    """The upload is read into memory (never written as received), then processed by the bounded inference pool.

    A segmentation model's report has a ``segmentation`` object: ``classes`` (per class ``count`` of pixels or
    voxels, ``area_mm2`` or ``volume_mm3`` when the spacing is known, ``fraction``, ``colour``), and the URLs of
    the ``mask`` (PNG, or NIfTI for volumes) and of the ``overlay`` PNG.
    """
    data = await read_upload(request, settings.max_upload_bytes)
    row = await pool.run(lambda guard: service.process(data, guard=guard))
    body = report_json(row)
    response.headers["Location"] = body["links"]["self"]  # 201 Created names what it created
    return body
