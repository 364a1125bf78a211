"""A stored report as JSON, as a printable HTML page and as a FHIR R4 ``DiagnosticReport``.

FHIR notes: the report has no ``subject`` (the upload was de-identified, so there is no patient to point
at; the receiving system links it to its own patient). Its status is ``preliminary``: it is machine output
that a clinician has not reviewed. Each class probability is a contained ``Observation`` (unit ``1``, UCUM)
made by a contained ``Device`` (the model); the HTML report and the heatmap overlay travel as
``presentedForm`` attachments.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from typing import Any

from medimg.serve.storage import ReportRow

DISCLAIMER = (
    "Research software output, not a medical device. The prediction and heatmap have not been reviewed by a "
    "clinician and must not be used on their own for diagnosis or treatment."
)


def iso(moment: datetime) -> str:
    """ISO 8601 with a UTC offset (SQLite hands datetimes back without their zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def report_links(report_id: str, prefix: str = "/v1") -> dict[str, str]:
    base = f"{prefix}/reports/{report_id}"
    return {
        "self": base,
        "html": f"{base}?format=html",
        "fhir": f"{base}?format=fhir",
        "image": f"{base}/image.png",
        "heatmap": f"{base}/heatmap.png",
        "overlay": f"{base}/overlay.png",
    }


def report_json(row: ReportRow) -> dict[str, Any]:
    links = report_links(row.id)
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "model": {"name": row.model_name, **row.model_info},
        "prediction": {
            "label": row.label,
            "label_index": row.label_index,
            "confidence": row.confidence,
            "probabilities": row.probabilities,
        },
        "explanation": (
            {"method": row.explain_method, "heatmap": links["heatmap"], "overlay": links["overlay"]}
            if row.heatmap_png is not None
            else None
        ),
        "input": row.input_info,
        "links": links,
    }


def _data_uri(png: bytes | None) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode() if png else ""


def report_html(row: ReportRow) -> str:
    """A self-contained printable page (images inlined), styled like the evaluation reports."""
    from medimg.evaluation.report import _CSS

    e = html.escape
    ranked = sorted(row.probabilities.items(), key=lambda kv: -kv[1])
    bars = "".join(
        f'<tr><td{" class=strong" if name == row.label else ""}>{e(name)}</td><td class="num">{p:.1%}</td>'
        f'<td style="width:55%"><div class="bar" style="width:{100 * p:.1f}%"></div></td></tr>'
        for name, p in ranked
    )
    info = row.input_info
    facts = {
        "Report": row.id,
        "Created (UTC)": iso(row.created_at),
        "Model": f"{row.model_name} ({row.model_info.get('network', '')})",
        "Input": f"{info.get('format', '').upper()}, shape {info.get('shape')}",
    }
    dicom = info.get("dicom") or {}
    if dicom.get("Modality"):
        facts["Modality"] = dicom["Modality"]
    if dicom:
        facts["De-identified"] = "yes (identifiers removed, UIDs replaced)"
    meta = "".join(f"<div><dt>{e(k)}</dt><dd>{e(str(v))}</dd></div>" for k, v in facts.items())
    figures = (
        f'<figure><img alt="uploaded image" src="{_data_uri(row.image_png)}"><figcaption>Image</figcaption></figure>'
    )
    if row.overlay_png:
        figures += (
            f'<figure><img alt="heatmap overlay" src="{_data_uri(row.overlay_png)}">'
            f"<figcaption>{e(row.explain_method or '')} heatmap for “{e(row.label)}” (red = strongest evidence)"
            "</figcaption></figure>"
        )
    extra_css = (
        ".bar { height: 12px; background: var(--accent); border-radius: 3px; min-width: 1px; }"
        " .headline { font-size: 20px; margin: 10px 0 4px; } figure img { image-rendering: auto; }"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>medimg report {e(row.id[:8])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}{extra_css}</style></head>
<body><main>
<header><h1>Image classification report</h1>
<p class="headline">Prediction: <strong>{e(row.label)}</strong> ({row.confidence:.1%})</p></header>
<dl class="meta">{meta}</dl>
<h2>Class probabilities</h2>
<table class="headline"><thead><tr><th>Class</th><th class="num">Probability</th><th></th></tr></thead>
<tbody>{bars}</tbody></table>
<h2>Images</h2><div class="figures">{figures}</div>
<div class="limitations"><strong>Limitations.</strong> {e(DISCLAIMER)}</div>
<footer>medimg · report {e(row.id)}</footer>
</main></body></html>
"""


def report_fhir(row: ReportRow, base_url: str = "") -> dict[str, Any]:
    """The report as a FHIR R4 ``DiagnosticReport`` resource (JSON)."""
    created = iso(row.created_at)
    network = str(row.model_info.get("network", ""))
    device = {
        "resourceType": "Device",
        "id": "model",
        "deviceName": [{"name": f"medimg {row.model_name}", "type": "model-name"}],
        "type": {"text": "AI image classification model"},
        "version": [{"value": network}],
    }
    observations: list[dict[str, Any]] = []
    for i, (name, probability) in enumerate(row.probabilities.items()):
        observations.append(
            {
                "resourceType": "Observation",
                "id": f"p{i}",
                "status": "preliminary",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "imaging",
                                "display": "Imaging",
                            }
                        ]
                    }
                ],
                "code": {"text": f"Model probability of class '{name}'"},
                "effectiveDateTime": created,
                "valueQuantity": {
                    "value": round(float(probability), 6),
                    "unit": "probability",
                    "system": "http://unitsofmeasure.org",
                    "code": "1",
                },
                "device": {"reference": "#model"},
            }
        )
    presented = [
        {
            "contentType": "text/html",
            "language": "en",
            "data": base64.b64encode(report_html(row).encode()).decode(),
            "title": "Printable report",
            "creation": created,
        }
    ]
    if row.overlay_png:
        presented.append(
            {
                "contentType": "image/png",
                "data": base64.b64encode(row.overlay_png).decode(),
                "title": f"{row.explain_method} heatmap overlay",
                "creation": created,
            }
        )
    return {
        "resourceType": "DiagnosticReport",
        "id": row.id,
        "meta": {"lastUpdated": created},
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{_uuid(row.id)}"}],
        "status": "preliminary",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"}],
            "text": "AI image classification",
        },
        "effectiveDateTime": created,
        "issued": created,
        "contained": [device, *observations],
        "result": [{"reference": f"#{o['id']}", "display": o["code"]["text"]} for o in observations],
        "conclusion": f"Predicted class: {row.label} (probability {row.confidence:.3f}). {DISCLAIMER}",
        "conclusionCode": [{"text": row.label}],
        "presentedForm": presented,
    }


def _uuid(hex_id: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(hex=hex_id))
    except ValueError:
        return hex_id
