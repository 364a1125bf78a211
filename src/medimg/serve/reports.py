"""A stored report as JSON, as a printable HTML page and as a FHIR R4 ``DiagnosticReport``.

FHIR notes: the report has no ``subject`` (the upload was de-identified, so there is no patient to point
at; the receiving system links it to its own patient). Its status is ``preliminary``: it is machine output
that a clinician has not reviewed. A classification has one contained ``Observation`` per class probability
(unit ``1``, UCUM); a segmentation has one per class area (``mm2``) or volume (``mm3``), or pixel/voxel count
(``{pixel}``/``{voxel}``) when the spacing is unknown, with the count as a ``component``; a detection has one
per class count of detected objects (``{objects}``, zeros included) with the highest box score as a
``component``. Observations are made by a contained ``Device`` (the model); the HTML report and the heatmap,
segmentation or box overlay travel as ``presentedForm`` attachments.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from medimg.serve.model_card import performance_text
from medimg.serve.storage import ReportRow
from medimg.tasks.classify.operating_point_record import operating_point_text

DISCLAIMER = (
    "Research software output, not a medical device. The prediction and heatmap have not been reviewed by a "
    "clinician and must not be used on their own for diagnosis or treatment."
)


def disclaimer(row: ReportRow) -> str:
    """:data:`DISCLAIMER` naming what this report holds: a classification's prediction (and heatmap), a
    segmentation and its measurements, or detected objects."""
    task = _task(row)
    if task == "segment":
        what = "The segmentation and its measurements have"
    elif task == "detect":
        what = "The detected objects have"
    elif row.heatmap_png is not None:
        what = "The prediction and heatmap have"
    else:
        what = "The prediction has"
    return DISCLAIMER.replace("The prediction and heatmap have", what)


def input_text(info: dict[str, Any]) -> str:
    """The upload in words: ``"PNG, 1 channel, 32 × 32 pixels"`` (``"… voxels"`` for a volume) from the input's
    format and ``(channels, *spatial)`` shape."""
    fmt = str(info.get("format") or "").upper() or "image"
    shape = info.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) < 3:
        return fmt if not shape else f"{fmt}, shape {' × '.join(str(s) for s in shape)}"
    channels, spatial = int(shape[0]), [int(s) for s in shape[1:]]
    elements = "voxels" if len(spatial) == 3 else "pixels"
    return (
        f"{fmt}, {channels} channel{'' if channels == 1 else 's'}, {' × '.join(f'{s:,}' for s in spatial)} {elements}"
    )


def iso(moment: datetime) -> str:
    """ISO 8601 with a UTC offset (SQLite hands datetimes back without their zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def report_links(
    report_id: str, prefix: str = "/v1", *, mask_format: str | None = None, pictures: Sequence[str] = ()
) -> dict[str, str]:
    """URLs of a report and of its pictures that exist (``pictures``: ``heatmap``, ``overlay``; a link that
    answers 404 is never given); ``mask`` (``mask.png`` or ``mask.nii.gz``) for segmentations."""
    base = f"{prefix}/reports/{report_id}"
    links = {
        "self": base,
        "html": f"{base}?format=html",
        "fhir": f"{base}?format=fhir",
        "image": f"{base}/image.png",
        **{name: f"{base}/{name}.png" for name in pictures},
    }
    if mask_format:
        links["mask"] = f"{base}/mask.{mask_format}"
    return links


def _task(row: ReportRow) -> str:
    return row.task or "classify"


def report_json(row: ReportRow) -> dict[str, Any]:
    segmentation = row.segmentation if _task(row) == "segment" else None
    pictures = [name for name, png in (("heatmap", row.heatmap_png), ("overlay", row.overlay_png)) if png is not None]
    links = report_links(row.id, mask_format=(segmentation or {}).get("mask_format"), pictures=pictures)
    body = {
        "id": row.id,
        "created_at": iso(row.created_at),
        "task": _task(row),
        "model": {"name": row.model_name, **row.model_info},
        "prediction": {
            "label": row.label,
            "label_index": row.label_index,
            "confidence": row.confidence,
            "probabilities": row.probabilities,
            **({"findings": findings} if (findings := report_findings(row)) is not None else {}),
        },
        "explanation": (
            {
                "method": row.explain_method,
                "class": explained_class(row),
                "heatmap": links["heatmap"],
                "overlay": links.get("overlay"),
                "empty": heatmap_empty(row),
            }
            if row.heatmap_png is not None
            else None
        ),
        # what the printed report says beside the prediction: an image outside the training domain (first, so a
        # client reading only the caveats learns it), the operating point folded into the probabilities, a call the
        # model's own test split showed it cannot be trusted for
        "caveats": [
            text
            for text in (domain_warning(row), decision_text(row), weak_prediction_warning(row), turned_text(row))
            if text
        ],
        "token_id": row.token_id,
        "input": row.input_info,
        "domain": row.input_info.get("domain"),
        "links": links,
    }
    if segmentation is not None:
        body["segmentation"] = {**segmentation, "mask": links["mask"], "overlay": links.get("overlay")}
    detection = _detection(row)
    if detection is not None:
        body["detection"] = {**detection, "overlay": links.get("overlay")}
    return body


def _detection(row: ReportRow) -> dict[str, Any] | None:
    """A detection report's boxes and counts (None for other tasks)."""
    return row.detection if _task(row) == "detect" else None


def explained_class(row: ReportRow) -> str | None:
    """The class a classification's heatmap explains (as ``medimg predict --explain`` names it): the predicted
    class, for a multi-label model the most probable finding; a report stored before it was recorded gives the most
    probable class, which is what its heatmap explained."""
    if row.explained_class:
        return row.explained_class
    if _task(row) != "classify" or not row.probabilities:
        return None
    return max(row.probabilities.items(), key=lambda kv: kv[1])[0]


def report_findings(row: ReportRow) -> list[str] | None:
    """A multi-label classifier's findings (probability 0.5 or more, most probable first); ``None`` for a
    single-label or another task's report."""
    if _task(row) != "classify" or not (row.model_info or {}).get("multi_label"):
        return None
    ranked = sorted(row.probabilities.items(), key=lambda kv: -kv[1])
    return [name for name, p in ranked if p >= 0.5]


def domain_warning(row: ReportRow) -> str | None:
    """The plain-text warning of an upload outside the model's training domain (None when inside or unchecked)."""
    domain = (row.input_info or {}).get("domain") or {}
    if domain.get("in_domain", True):
        return None
    return (
        "The image is outside the model's training domain ("
        + "; ".join(domain.get("reasons") or ["unspecified"])
        + "): the result may be wrong."
    )


def decision_text(row: ReportRow) -> str | None:
    """How a two-class model decided, where it decides at an operating point chosen on validation (folded into the
    probabilities it reports, so 50% is that threshold, not a raw probability of 50%); None otherwise."""
    info = row.model_info or {}
    point = info.get("operating_point") or (info.get("performance") or {}).get("operating_point")
    if _task(row) != "classify" or len(row.probabilities) != 2 or not isinstance(point, dict):
        return None
    return (
        f"The model decides at {operating_point_text(point)}. That threshold is folded into the probabilities"
        " shown, so 50% here is the threshold: they are not the network's raw probabilities."
    )


def turned_text(row: ReportRow) -> str | None:
    """Where the upload carries an EXIF orientation (a phone's photo): its viewer shows it turned or mirrored, while
    the model read it, and the report shows it, as stored; None otherwise."""
    from medimg.io.read_notes import describe_orientation

    orientation = (row.input_info or {}).get("exif_orientation")
    if not orientation:
        return None
    return (
        f"The file carries an {describe_orientation(int(orientation))}; the model read it as stored, as shown here"
        " (its training images were read the same way): re-save it upright and upload it again if it was meant to"
        " be seen as the viewer shows it."
    )


def weak_prediction_warning(row: ReportRow) -> str | None:
    """A warning where a two-class model's prediction is one its own test split showed it cannot be trusted for: a
    negative call from a model that missed most positive test images (sensitivity under 0.5), or a positive call
    from one that called most negative test images positive (specificity under 0.5); None otherwise."""
    performance = (row.model_info or {}).get("performance") or {}
    positive = performance.get("positive_class")
    measured = performance.get("metrics") or {}
    if _task(row) != "classify" or len(row.probabilities) != 2 or positive not in row.probabilities:
        return None
    negative = next(name for name in row.probabilities if name != positive)
    split = performance.get("split", "test")
    for key, called, missed in (("sensitivity", negative, positive), ("specificity", positive, negative)):
        value = (measured.get(key) or {}).get("value")
        if row.label == called and isinstance(value, (int, float)) and value < 0.5:
            return (
                f"On its {split} split this model called only {value:.0%} of the “{missed}” images “{missed}”"
                f" ({key} {value:.3f}): its “{called}” predictions do not rule “{missed}” out."
            )
    return None


def weights_text(row: ReportRow) -> str | None:
    """The served weights' SHA-256, shortened to 12 digits (which trained model made the report)."""
    sha = str((row.model_info or {}).get("weights_sha256") or "")
    return f"sha256 {sha[:12]}" if sha else None


def heatmap_empty(row: ReportRow) -> bool:
    """Whether a classification's heatmap shows no heat at all (the network's score for the explained class did not
    depend on any area of the image): its overlay is then the bare image, which is not evidence of absence."""
    if row.heatmap_png is None:
        return False
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(row.heatmap_png)) as picture:
            if picture.mode != "RGBA":
                return False
            return picture.getchannel("A").getextrema()[1] == 0
    except (OSError, UnidentifiedImageError, ValueError):
        return False


def _data_uri(png: bytes | None) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode() if png else ""


def size_number(size: float) -> str:
    """An area or volume as a reader reads it: ``56.7``, ``1,235``, ``1,523,400`` (never ``1.523e+06``)."""
    return f"{size:,.0f}" if abs(size) >= 1000 else f"{size:.4g}"


def size_text(entry: dict[str, Any], segmentation: dict[str, Any]) -> str:
    """``"56.7 mm² (1,234 pixels)"``, ``"45,600 mm³ = 45.6 mL (5,700 voxels)"``, or ``"1,234 pixels"`` when the
    spacing is unknown."""
    count = f"{entry['count']:,} {segmentation.get('count_unit', 'pixel')}s"
    size = entry.get(segmentation.get("measure", ""))
    if size is None:
        return count
    if segmentation.get("size_unit") == "mm2":
        return f"{size_number(size)} mm² ({count})"
    millilitres = size / 1000
    ml = f" = {millilitres:,.0f} mL" if millilitres >= 100 else f" = {millilitres:.3g} mL" if millilitres >= 1 else ""
    return f"{size_number(size)} mm³{ml} ({count})"


def shown_slice_text(input_info: dict[str, Any]) -> str | None:
    """Which slice of a volume the report's pictures show (``"axial slice 7 of 12 (z = 10.5 mm)"``, numbered from
    1), None for a 2D image or a report stored before it was recorded."""
    shown = (input_info or {}).get("shown_slice")
    if not isinstance(shown, dict):
        return None
    where = f" (z = {shown['z_mm']:g} mm)" if shown.get("z_mm") is not None else ""
    return f"{shown.get('plane', 'axial')} slice {int(shown['index']) + 1} of {shown['count']}{where}"


def _segmented(row: ReportRow) -> list[dict[str, Any]]:
    """Foreground classes with at least one pixel/voxel."""
    return [c for c in (row.segmentation or {}).get("classes", [])[1:] if c["count"] > 0]


def report_html(row: ReportRow) -> str:
    """A self-contained printable page (images inlined), styled like the evaluation reports."""
    from medimg.evaluation.report import _CSS

    e = html.escape
    segmentation = row.segmentation if _task(row) == "segment" else None
    info = row.input_info
    facts = {
        "Report": row.id,
        "Created (UTC)": iso(row.created_at),
        "Model": row.model_name + (f" ({network})" if (network := row.model_info.get("network")) else ""),
    }
    weights = weights_text(row)
    if weights:
        facts["Model weights"] = weights
    facts["Input"] = input_text(info)
    slice_text = shown_slice_text(info)
    if slice_text:
        facts["Shown"] = slice_text
    frames = info.get("frames") or {}
    if frames.get("label_counts"):  # a multi-frame upload to a 2D classifier: every frame predicted
        counts = ", ".join(f"{name} {n}" for name, n in frames["label_counts"].items() if n)
        facts["Frames"] = f"{frames['count']} predicted one by one ({counts}); shown: frame {frames['shown']}"
    if segmentation is not None and info.get("spacing_mm"):
        facts["Spacing (mm)"] = " × ".join(f"{s:g}" for s in info["spacing_mm"])
    dicom = info.get("dicom") or {}
    if dicom.get("Modality"):
        facts["Modality"] = dicom["Modality"]
    if dicom:
        facts["De-identified"] = "yes (identifiers removed, UIDs replaced)"
    if dicom.get("StudyInstanceUID"):  # the keyed hash: whoever holds the service's secret can match the study
        facts["Study UID (de-identified)"] = dicom["StudyInstanceUID"]
    meta = "".join(f"<div><dt>{e(k)}</dt><dd>{e(str(v))}</dd></div>" for k, v in facts.items())
    figures = (
        f'<figure><img alt="uploaded image" src="{_data_uri(row.image_png)}"><figcaption>Image</figcaption></figure>'
    )
    detection = _detection(row)
    if detection is not None:
        from medimg.serve.detection import count_text

        title = "Object detection report"
        headline = f"Detected: <strong>{e(count_text(detection))}</strong>"
        rows = "".join(
            f'<tr><td><span class="swatch" style="background:{e(detection["colours"].get(name, "#888"))}"></span>'
            f'{e(name)}</td><td class="num">{n:,}</td><td class="num">'
            f"{f'{row.probabilities.get(name, 0.0):.2f}' if n else '–'}</td></tr>"  # no box: no score (was 0.00)
            for name, n in detection["counts"].items()
        )
        table = (
            "<h2>Detected objects</h2>"
            '<table class="headline"><thead><tr><th>Class</th><th class="num">Count</th>'
            '<th class="num">Highest score</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
            f'<p class="muted">Boxes scoring at least {detection["score_threshold"]:.2f} after non-maximum '
            f"suppression at IoU {detection['nms_iou']:.2f}; {detection['total']} in all.</p>"
        )
        caption = "Detected boxes (colour by class, with scores)"
    elif segmentation is None:
        findings = report_findings(row)
        ranked = sorted(row.probabilities.items(), key=lambda kv: -kv[1])
        shown = set(findings) if findings is not None else {row.label}
        rows = "".join(
            f'<tr><td{" class=strong" if name in shown else ""}>{e(name)}</td><td class="num">{p:.1%}</td>'
            f'<td style="width:55%"><div class="bar" style="width:{100 * p:.1f}%"></div></td></tr>'
            for name, p in ranked
        )
        if findings is None:
            title = "Image classification report"
            headline = f"Prediction: <strong>{e(row.label)}</strong> ({row.confidence:.1%})"
            heading = "Class probabilities"
            two = " (with two classes: the class whose probability is above 50%)" if len(ranked) == 2 else ""
            decided = decision_text(row)
            note = (
                f'<p class="muted">The prediction is the class with the highest probability{two}.'
                + (f" {e(decided)}" if decided else "")
                + " Probabilities are the model's output for this image, not a measured risk.</p>"
            )
        else:
            title = "Multi-label classification report"
            headline = (
                "Findings: " + ", ".join(f"<strong>{e(name)}</strong>" for name in findings)
                if findings
                else "No finding reaches its operating point"
            )
            heading = "Finding probabilities"
            note = (
                '<p class="muted">Each finding has its own probability (they do not add up to 100%); a finding is '
                "reported at 50% or more, its operating point chosen on the validation split.</p>"
            )
        table = (
            f"<h2>{heading}</h2>"
            '<table class="headline"><thead><tr><th>Class</th><th class="num">Probability</th><th></th></tr></thead>'
            f"<tbody>{rows}</tbody></table>{note}"
        )
        explained = explained_class(row) or ""
        caption = (
            f"{e(row.explain_method or '')} heatmap for “{e(explained)}”: blue (none) to red (the strongest evidence"
            " in this image; the colours are scaled per image, so red marks where the model looked most, not how"
            " certain it is)"
        )
        if heatmap_empty(row):
            caption = (
                f"{e(row.explain_method or '')} heatmap for “{e(explained)}”: <strong>empty</strong>: the model's"
                " score for it did not depend on any area of the image, so the overlay shows no heat; this is not"
                " evidence that the finding is absent"
            )
    else:
        title = "Image segmentation report"
        found = _segmented(row)
        headline = (
            "Segmented: " + "; ".join(f"<strong>{e(c['name'])}</strong> {e(size_text(c, segmentation))}" for c in found)
            if found
            else "Nothing segmented (background only)"
        )
        measure = "Area" if segmentation.get("measure") == "area_mm2" else "Volume"
        unit = {"mm2": " (mm²)", "mm3": " (mm³)"}.get(segmentation.get("size_unit") or "", "")
        sizes = [c.get(segmentation.get("measure", "")) for c in segmentation.get("classes", [])]
        rows = "".join(
            f'<tr><td><span class="swatch" style="background:{e(c["colour"])}"></span>{e(c["name"])}</td>'
            f'<td class="num">{c["count"]:,}</td><td class="num">{"—" if size is None else size_number(size)}</td>'
            f'<td class="num">{c["fraction"]:.1%}</td></tr>'
            for c, size in zip(segmentation.get("classes", []), sizes, strict=True)
        )
        table = (
            "<h2>Segmented classes</h2>"
            f'<table class="headline"><thead><tr><th>Class</th><th class="num">{e(segmentation["count_unit"].title())}s'
            f'</th><th class="num">{measure}{unit}</th><th class="num">Share of image</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
        if all(size is None for size in sizes):
            table += (
                f'<p class="muted">{measure}: — (the image carries no pixel spacing, so sizes are given in '
                f"{e(segmentation['count_unit'])}s only; upload DICOM or NIfTI for mm).</p>"
            )
        caption = "Segmentation overlay (filled and outlined by class)"
    warning = domain_warning(row)
    if warning:
        headline += ' <span class="ood">(unreliable: the image is outside the model\'s training domain)</span>'
    if row.overlay_png:
        figures += (
            f'<figure><img alt="overlay" src="{_data_uri(row.overlay_png)}"><figcaption>{caption}</figcaption></figure>'
        )
    domain_block = (
        f'<div class="limitations domain"><strong>Out of domain.</strong> {e(warning)}</div>' if warning else ""
    )
    weak = weak_prediction_warning(row)
    if weak:
        domain_block += f'<div class="limitations weak"><strong>Weak evidence.</strong> {e(weak)}</div>'
    turned = turned_text(row)
    if turned:
        domain_block += f'<div class="limitations weak"><strong>Turned photo.</strong> {e(turned)}</div>'

    about = performance_text(row.model_info)
    model_block = f"<h2>About the model</h2><p>{e(about)}</p>\n" if about else ""
    extra_css = (
        ".bar { height: 12px; background: var(--accent); border-radius: 3px; min-width: 1px; }"
        " .headline { font-size: 20px; margin: 10px 0 4px; } figure img { image-rendering: auto; }"
        " .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }"
        " .ood { color: #c0392b; font-size: 15px; font-weight: 600; }"
        # printed: the image and its heatmap (or overlay) side by side as every report's figures (stacked at 15 cm
        # each they took three A4 pages), a small upload enlarged to the column
        " @media print { figure img { width: 100%; max-height: 8cm; object-fit: contain; } }"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>medimg report {e(row.id[:8])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}{extra_css}</style></head>
<body><main>
<header><h1>{title}</h1>
<p class="headline">{headline}</p></header>
{domain_block}<dl class="meta">{meta}</dl>
{table}
{model_block}<h2>Images</h2><div class="figures">{figures}</div>
<div class="limitations"><strong>Limitations.</strong> {e(disclaimer(row))}</div>
<footer>medimg · report {e(row.id)}</footer>
</main></body></html>
"""


_UCUM = "http://unitsofmeasure.org"


def _observation(index: int, name: str, created: str, value: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"p{index}",
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
        "code": {"text": name},
        "effectiveDateTime": created,
        "valueQuantity": value,
        **extra,
        "device": {"reference": "#model"},
    }


def _segment_observations(row: ReportRow, created: str) -> list[dict[str, Any]]:
    """One Observation per class: its area (mm2) or volume (mm3), else its pixel/voxel count; the count as a
    component."""
    segmentation = row.segmentation or {}
    counted = segmentation.get("count_unit", "pixel")
    kind = "area" if segmentation.get("measure") == "area_mm2" else "volume"
    observations = []
    for entry in segmentation.get("classes", []):
        count = {"value": int(entry["count"]), "unit": f"{counted}s", "system": _UCUM, "code": f"{{{counted}}}"}
        size = entry.get(segmentation.get("measure", ""))
        unit = segmentation.get("size_unit")
        if size is not None and unit:
            value = {"value": round(float(size), 6), "unit": unit, "system": _UCUM, "code": unit}
            name = f"Segmented {kind} of class '{entry['name']}'"
        else:
            value, name = count, f"Segmented {counted} count of class '{entry['name']}'"
        component = [{"code": {"text": f"{counted} count"}, "valueQuantity": count}]
        observations.append(_observation(int(entry["index"]), name, created, value, component=component))
    return observations


def _detect_observations(row: ReportRow, detection: dict[str, Any], created: str) -> list[dict[str, Any]]:
    """One Observation per class: the number of detected objects (zeros included), the highest box score as a
    component (none without a box: a score of 0 read as a box scored 0)."""
    observations = []
    for index, (name, count) in enumerate(detection.get("counts", {}).items()):
        value = {"value": int(count), "unit": "objects", "system": _UCUM, "code": "{objects}"}
        score = {"value": round(float(row.probabilities.get(name, 0.0)), 6), "unit": "score", "system": _UCUM}
        component = [{"code": {"text": "highest detection score"}, "valueQuantity": {**score, "code": "1"}}]
        extra = {"component": component} if count else {}
        observations.append(_observation(index, f"Detected count of class '{name}'", created, value, **extra))
    return observations


def report_fhir(row: ReportRow, base_url: str = "") -> dict[str, Any]:
    """The report as a FHIR R4 ``DiagnosticReport`` resource (JSON)."""
    created = iso(row.created_at)
    network = str(row.model_info.get("network", ""))
    segmentation = row.segmentation if _task(row) == "segment" else None
    detection = _detection(row)
    what = "segmentation" if segmentation is not None else "detection" if detection is not None else "classification"
    device = {
        "resourceType": "Device",
        "id": "model",
        "deviceName": [{"name": f"medimg {row.model_name}", "type": "model-name"}],
        "type": {"text": f"AI image {what} model"},
        "version": [
            {"type": {"text": "network"}, "value": network},
            *(
                [{"type": {"text": "weights SHA-256"}, "value": sha}]
                if (sha := str(row.model_info.get("weights_sha256") or ""))
                else []
            ),
        ],
    }
    if detection is not None:
        from medimg.serve.detection import count_text

        observations = _detect_observations(row, detection, created)
        conclusion = f"Detected: {count_text(detection)}."
        overlay_title = "detected boxes"
    elif segmentation is None:
        multi_label = bool((row.model_info or {}).get("multi_label"))
        observations = [
            _observation(
                i,
                f"Model probability of {'finding' if multi_label else 'class'} '{name}'",
                created,
                {"value": round(float(probability), 6), "unit": "probability", "system": _UCUM, "code": "1"},
            )
            for i, (name, probability) in enumerate(row.probabilities.items())
        ]
        findings = report_findings(row)
        if findings is None:
            conclusion = " ".join(
                filter(None, [f"Predicted class: {row.label} (probability {row.confidence:.3f}).", decision_text(row)])
            )
        else:
            listed = ", ".join(f"{name} (probability {row.probabilities[name]:.3f})" for name in findings)
            conclusion = f"Findings: {listed}." if findings else "No finding reaches its operating point."
        overlay_title = f"{row.explain_method} heatmap overlay"
    else:
        observations = _segment_observations(row, created)
        found = _segmented(row)
        conclusion = (
            "Segmented: " + "; ".join(f"{c['name']} {size_text(c, segmentation)}" for c in found) + "."
            if found
            else "Nothing segmented (background only)."
        )
        overlay_title = "segmentation overlay"
    warning = domain_warning(row)
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
                "title": overlay_title,
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
            "text": f"AI image {what}",
        },
        "effectiveDateTime": created,
        "issued": created,
        "contained": [device, *observations],
        "result": [{"reference": f"#{o['id']}", "display": o["code"]["text"]} for o in observations],
        "conclusion": " ".join(filter(None, [warning, conclusion, weak_prediction_warning(row), disclaimer(row)])),
        "conclusionCode": [
            {
                "text": f"{row.label} (unreliable: the image is outside the model's training domain)"
                if warning
                else row.label
            }
        ],
        "presentedForm": presented,
    }


def _uuid(hex_id: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(hex=hex_id))
    except ValueError:
        return hex_id
