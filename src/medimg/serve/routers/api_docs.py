"""``GET /docs``: the API reference as one self-contained page, drawn from the OpenAPI schema (``/openapi.json``).

FastAPI's Swagger UI loads its scripts from a CDN, so on a hospital network without internet access it is a blank
page; this page needs nothing but the server.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["web"])

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
    "h2{margin-top:2em;font-size:1.1em}code{background:#f3f3f3;padding:0 .2em}"
    ".m{display:inline-block;min-width:4.5em;font-weight:bold}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}"
)


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_reference(request: Request) -> HTMLResponse:
    schema = request.app.openapi()
    info = schema.get("info", {})
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(info.get('title', 'API'))} API</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))} API <small>{escape(str(info.get('version', '')))}</small></h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<p>The machine-readable schema: <a href='/openapi.json'><code>/openapi.json</code></a>.</p>",
    ]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            parts.append(_operation(method, path, operation))
    parts.append("</body></html>")
    return HTMLResponse("".join(parts), headers={"Cache-Control": "no-cache"})


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p.get('name', ''))}</code></td><td>{escape(p.get('in', ''))}</td>"
        f"<td>{'required' if p.get('required') else ''}</td><td>{escape(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", [])
    )
    body = operation.get("requestBody", {}).get("content", {})
    responses = "".join(
        f"<tr><td>{escape(code)}</td><td>{escape(answer.get('description', ''))}</td></tr>"
        for code, answer in operation.get("responses", {}).items()
    )
    return "".join(
        [
            f"<h2><span class='m'>{escape(method.upper())}</span><code>{escape(path)}</code></h2>",
            f"<p><b>{escape(operation.get('summary', ''))}</b></p>",
            f"<p>{escape(operation.get('description', ''))}</p>",
            f"<table><tr><th>parameter</th><th>in</th><th></th><th></th></tr>{rows}</table>" if rows else "",
            f"<p>Body: {', '.join(f'<code>{escape(kind)}</code>' for kind in body)}</p>" if body else "",
            f"<table><tr><th>status</th><th>meaning</th></tr>{responses}</table>" if responses else "",
        ]
    )
