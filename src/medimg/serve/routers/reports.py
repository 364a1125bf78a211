"""``GET /v1/reports`` (paged history), ``GET /v1/reports/{id}`` as JSON, HTML or FHIR R4, plus images, and
``DELETE /v1/reports/{id}``. A token reaches the reports it created (an admin token, or every token on a server
started with ``--shared-reports``, every report): another token's report answers 404, as a missing one."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from medimg.serve.auth import get_storage, require_token
from medimg.serve.dependencies import get_scope, get_settings
from medimg.serve.reports import iso, report_fhir, report_html, report_json, report_links
from medimg.serve.settings import ServeSettings
from medimg.serve.storage import ReportRow, Scope, Storage, TokenInfo

logger = logging.getLogger("medimg.serve")

router = APIRouter(prefix="/v1", tags=["reports"], dependencies=[Depends(require_token)])

FHIR_JSON = "application/fhir+json"
MAX_OFFSET = 2**31 - 1
"""The largest ``offset`` accepted (a larger one is a 422, not a database integer overflow)."""


def _well_formed(report_id: str) -> bool:
    return report_id.isalnum() and len(report_id) <= 32


def _missing(report_id: str) -> HTTPException:
    return HTTPException(404, f"no report with id {report_id!r} for this token")


def _report(storage: Storage, report_id: str, scope: Scope) -> ReportRow:
    row = storage.get_report(report_id, scope) if _well_formed(report_id) else None
    if row is None:
        raise _missing(report_id)
    return row


@router.get("/reports", summary="Past reports, newest first (paged)")
def list_reports(
    limit: int = Query(20, ge=1, description="reports per page"),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="reports to skip"),
    storage: Storage = Depends(get_storage),
    settings: ServeSettings = Depends(get_settings),
    scope: Scope = Depends(get_scope),
) -> dict[str, Any]:
    limit = min(limit, settings.max_page_size)
    total, items = storage.list_reports(offset=offset, limit=limit, scope=scope)
    for item in items:
        item["created_at"] = iso(item["created_at"])
        item["links"] = report_links(item["id"])
    following = offset + limit
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": items,
        "next": f"/v1/reports?limit={limit}&offset={following}" if following < total else None,
    }


@router.get(
    "/reports/{report_id}",
    summary="One report: JSON (default), printable HTML (?format=html) or FHIR R4 DiagnosticReport (?format=fhir)",
    responses={200: {"content": {"text/html": {}, FHIR_JSON: {}}}},
)
def get_report(
    report_id: str,
    request: Request,
    format: Literal["json", "html", "fhir"] | None = Query(
        None, description="json, html or fhir (default: from the Accept header, else json)"
    ),
    storage: Storage = Depends(get_storage),
    scope: Scope = Depends(get_scope),
) -> Response:
    row = _report(storage, report_id, scope)
    chosen = format or negotiate(request.headers.get("accept", ""))
    vary = {"Vary": "Accept"}  # a cache must not give one client's HTML to another's JSON
    if chosen == "html":
        return HTMLResponse(report_html(row), headers=vary)
    if chosen == "fhir":
        return JSONResponse(report_fhir(row), media_type=FHIR_JSON, headers=vary)
    return JSONResponse(report_json(row), headers=vary)


#: the media types a report is given in, and the format each names
_FORMATS = {FHIR_JSON: "fhir", "text/html": "html", "application/json": "json"}


def negotiate(accept: str) -> Literal["json", "html", "fhir"]:
    """The report format an ``Accept`` header asks for: the named type with the highest quality (``q=0`` is a
    refusal; on a tie the first listed), else JSON (``*/*``, nothing named, or only other types)."""
    best: tuple[float, int, str] | None = None
    for order, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = _FORMATS.get(media.lower())
        if kind is not None and quality > 0 and (best is None or (quality, -order) > (best[0], best[1])):
            best = (quality, -order, kind)
    chosen = best[2] if best is not None else "json"
    return "fhir" if chosen == "fhir" else "html" if chosen == "html" else "json"


@router.get(
    "/reports/{report_id}/{kind}.png",
    summary="The de-identified image, the heatmap, the overlay, or a 2D segmentation's mask (PNG)",
)
def get_image(
    report_id: str,
    kind: Literal["image", "heatmap", "overlay", "mask"],
    storage: Storage = Depends(get_storage),
    scope: Scope = Depends(get_scope),
) -> Response:
    row = _report(storage, report_id, scope)
    if kind == "mask":
        return _mask(row, "png")
    data = {"image": row.image_png, "heatmap": row.heatmap_png, "overlay": row.overlay_png}[kind]
    if data is None:
        why = (  # a mask or boxes explain a segmentation or a detection: a heatmap is a classifier's
            f"a {row.task} report has none: its overlay shows the {'mask' if row.task == 'segment' else 'boxes'}"
            if kind == "heatmap" and row.task in ("segment", "detect")
            else "the service ran without explanations"
        )
        raise HTTPException(404, f"report {report_id} has no {kind} ({why})")
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/reports/{report_id}/mask.nii.gz", summary="A 3D segmentation's mask (NIfTI, the input's affine)")
def get_volume_mask(
    report_id: str, storage: Storage = Depends(get_storage), scope: Scope = Depends(get_scope)
) -> Response:
    return _mask(_report(storage, report_id, scope), "nii.gz")


@router.delete(
    "/reports/{report_id}",
    status_code=204,
    summary="Delete a report (with its pictures and mask); the server's log records which token deleted it",
    responses={204: {"description": "deleted"}, 404: {"description": "no such report for this token"}},
)
def delete_report(
    report_id: str,
    storage: Storage = Depends(get_storage),
    scope: Scope = Depends(get_scope),
    token: TokenInfo = Depends(require_token),
) -> Response:
    if not (_well_formed(report_id) and storage.delete_report(report_id, scope)):
        raise _missing(report_id)
    logger.info("report %s deleted with token %s (%s)", report_id, token.id, token.name)
    return Response(status_code=204)


def _mask(row: ReportRow, fmt: str) -> Response:
    stored = (row.segmentation or {}).get("mask_format")
    if row.mask_data is None or stored is None:
        raise HTTPException(404, f"report {row.id} has no mask (it is not a segmentation)")
    if stored != fmt:
        raise HTTPException(404, f"report {row.id}'s mask is mask.{stored}, not mask.{fmt}")
    media = "image/png" if fmt == "png" else "application/gzip"
    headers = {"Cache-Control": "private, max-age=3600"}
    if fmt != "png":
        headers["Content-Disposition"] = f'attachment; filename="mask-{row.id}.nii.gz"'
    return Response(row.mask_data, media_type=media, headers=headers)
