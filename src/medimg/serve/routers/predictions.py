"""``POST /v1/predictions``: upload an image, get a report id and the result: a label, probabilities and a heatmap
(classification), or per-class areas/volumes, a mask and an overlay (segmentation)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, UploadFile, status

from medimg.serve.auth import require_token
from medimg.serve.dependencies import get_service, get_settings
from medimg.serve.reports import report_json
from medimg.serve.service import PredictionService, UploadRejected
from medimg.serve.settings import ServeSettings

router = APIRouter(prefix="/v1", tags=["predictions"], dependencies=[Depends(require_token)])


@router.post(
    "/predictions",
    status_code=status.HTTP_201_CREATED,
    summary="Classify or segment an uploaded DICOM, NIfTI, PNG, JPEG, BMP or TIFF file and store the report",
    responses={
        400: {"description": "empty or truncated file"},
        401: {"description": "missing or invalid API token"},
        413: {"description": "file or image too large"},
        415: {"description": "not a supported image format (judged from the content, not the name)"},
        422: {"description": "unreadable image, or an image that does not fit the model"},
    },
)
def create_prediction(
    file: UploadFile = File(description="the image file (multipart form field 'file')"),
    service: PredictionService = Depends(get_service),
    settings: ServeSettings = Depends(get_settings),
) -> dict[str, Any]:
    """Plain ``def``: inference blocks, so FastAPI runs it in its thread pool.

    A segmentation model's report has a ``segmentation`` object: ``classes`` (per class ``count`` of pixels or
    voxels, ``area_mm2`` or ``volume_mm3`` when the spacing is known, ``fraction``, ``colour``), and the URLs of
    the ``mask`` (PNG, or NIfTI for volumes) and of the ``overlay`` PNG.
    """
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise UploadRejected(
            413, f"the upload is larger than the limit of {settings.max_upload_bytes:,} bytes; send a smaller file"
        )
    return report_json(service.process(data))
