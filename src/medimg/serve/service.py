"""From an uploaded file to a stored report: checks, de-identification, prediction, heatmap, storage.

This module knows nothing about HTTP; refusals are :class:`UploadRejected` with a status code and a message
the client can act on. Patient identifiers never reach a log line: uploads are handled under a random
temporary name (the client's file name is never used or stored), DICOM is de-identified on disk before it
is read for pixels, and log lines carry only the report id, the format and sizes.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medimg.errors import ConfigError, DatasetError, ImageReadError, MedimgError
from medimg.serve.settings import ServeSettings
from medimg.serve.storage import ReportRow, Storage

if TYPE_CHECKING:
    from medimg.io.image import ImageData

logger = logging.getLogger("medimg.serve")

SERVED_TASKS = ("classify", "segment", "detect")

ACCEPTED_FORMATS = ("dicom", "nifti", "png", "jpeg", "bmp", "tiff")
_SUFFIXES = {"dicom": ".dcm", "png": ".png", "jpeg": ".jpg", "bmp": ".bmp", "tiff": ".tif", "gif": ".gif"}


class UploadRejected(Exception):
    """An upload the service refuses; ``status_code`` is a 4xx and ``message`` says why and what to do."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass
class ModelInfo:
    name: str
    network: str
    task: str
    class_names: list[str]
    input: dict[str, Any]
    training: dict[str, Any]
    explain_method: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _nifti_voxels(path: Path) -> int:
    import nibabel as nib

    try:
        image: Any = nib.load(str(path))
        return int(np.prod(image.shape, dtype=np.int64))
    except Exception as error:
        raise UploadRejected(422, f"the NIfTI header cannot be read ({type(error).__name__})") from error


def _dicom_pixels(path: Path) -> int:
    import pydicom

    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    except Exception as error:
        raise UploadRejected(422, f"the DICOM header cannot be parsed ({type(error).__name__})") from error
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    frames = int(str(ds.get("NumberOfFrames") or 1) or 1)
    if rows <= 0 or columns <= 0:
        raise UploadRejected(
            422, "the DICOM file holds no image (no Rows/Columns): it is truncated or not an image object"
        )
    return rows * columns * max(frames, 1) * int(ds.get("SamplesPerPixel") or 1)


class PredictionService:
    """The loaded model plus the storage; :meth:`process` turns upload bytes into a stored report.

    A classification run gives a label, class probabilities and a heatmap; a segmentation run gives a mask,
    per-class pixel/voxel counts with areas (mm^2) or volumes (mm^3) when the spacing is known, and an
    overlay; a detection run gives boxes, counts per class and the boxes drawn over the image. The model is
    loaded once; predictions run one at a time under a lock (Grad-CAM hooks the network, and the CPU is better
    used by torch's own threads than by competing requests).
    """

    def __init__(self, settings: ServeSettings, storage: Storage) -> None:
        from medimg.model import Model

        self.settings = settings
        self.storage = storage
        self.model = Model.load(settings.run_dir)
        if self.model.task not in SERVED_TASKS:
            raise ConfigError(
                f"{settings.run_dir} is a {self.model.task!r} model; the service serves {' and '.join(SERVED_TASKS)}"
            )
        explain_method = settings.explain_method if self.model.task == "classify" else None
        if explain_method:
            from medimg.explain.cam import check_method, resolve_target_layer

            check_method(explain_method)
            resolve_target_layer(self.model.network_)  # type: ignore[arg-type]
        metadata = self.model.metadata_
        self.info = ModelInfo(
            name=Path(settings.run_dir).resolve().name,
            network=str(metadata.get("network", "")),
            task=self.model.task,
            class_names=list(self.model.class_names_ or []),
            input=dict(metadata.get("input") or {}),
            training={k: v for k, v in (metadata.get("training") or {}).items() if k != "skipped_files"},
            explain_method=explain_method,
        )
        self._mask_colours: dict[int, tuple[int, int, int]] | None = None
        if self.model.task == "segment":
            from medimg.export.segment import mask_colours

            self._mask_colours = mask_colours(self.model.plan_)
        self._uid_salt = storage.secret("dicom_uid_salt")
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ checks
    def _check_upload(self, data: bytes) -> None:
        if not data:
            raise UploadRejected(400, "the uploaded file is empty (0 bytes); choose an image file")
        limit = self.settings.max_upload_bytes
        if len(data) > limit:
            raise UploadRejected(
                413, f"the upload is {len(data):,} bytes, more than the limit of {limit:,} bytes ({limit / 2**20:g} MB)"
            )

    def _sniff(self, raw: Path) -> str:
        from medimg.io.formats import detect_format

        try:
            fmt = detect_format(raw)
        except ImageReadError as error:
            damaged = error.reason.startswith(("the file is truncated", "the file is empty"))
            status = 400 if damaged else 415
            raise UploadRejected(status, f"not a supported image: {error.reason}") from error
        if fmt not in ACCEPTED_FORMATS:
            raise UploadRejected(
                415, f"{fmt.upper()} files are not accepted; upload DICOM, NIfTI, PNG, JPEG, BMP or TIFF"
            )
        return fmt

    def _check_pixels(self, path: Path, fmt: str) -> None:
        count = _dicom_pixels(path) if fmt == "dicom" else _nifti_voxels(path) if fmt == "nifti" else None
        if count is not None and count > self.settings.max_pixels:
            raise UploadRejected(
                413, f"the image has {count:,} pixels, more than the limit of {self.settings.max_pixels:,}"
            )

    # ------------------------------------------------------------------ the pipeline
    def process(self, data: bytes) -> ReportRow:
        """Check, de-identify, predict (classify: label + heatmap; segment: mask + measurements; detect: boxes +
        counts) and store one upload.

        Raises:
            UploadRejected: anything wrong with the upload (4xx), nothing stored.
        """
        from medimg.io import read_image

        started = time.perf_counter()
        self._check_upload(data)
        with tempfile.TemporaryDirectory(prefix="medimg-upload-") as tmp:
            raw = Path(tmp) / "upload.bin"
            raw.write_bytes(data)
            fmt = self._sniff(raw)
            suffix = (".nii.gz" if data[:2] == b"\x1f\x8b" else ".nii") if fmt == "nifti" else _SUFFIXES[fmt]
            path = raw.rename(Path(tmp) / f"upload{suffix}")
            self._check_pixels(path, fmt)
            input_info: dict[str, Any] = {"format": fmt, "bytes": len(data)}
            if fmt == "dicom":
                input_info["dicom"] = self._deidentify(path)
            window = self.model.metadata_.get("input", {}).get("window")
            window = (float(window[0]), float(window[1])) if isinstance(window, list) else window
            try:
                image = read_image(path, window=window, max_pixels=self.settings.max_pixels)
            except ImageReadError as error:
                status = 413 if "decompression-bomb" in error.reason else 422
                raise UploadRejected(status, f"the {fmt.upper()} file cannot be read: {error.reason}") from error
            if int(np.prod(image.array.shape[1:])) > self.settings.max_pixels:
                raise UploadRejected(413, f"the image is larger than the limit of {self.settings.max_pixels:,} pixels")
            image.source = f"upload.{fmt}"
            input_info["shape"] = list(image.array.shape)
            if image.spacing_mm is not None:
                input_info["spacing_mm"] = [round(float(s), 6) for s in image.spacing_mm]
            try:
                with self._lock:
                    if self.model.task == "segment":
                        fields = self._segment(image, fmt)
                    elif self.model.task == "detect":
                        fields = self._detect(image)
                    else:
                        fields = self._classify(image)
            except DatasetError as error:
                raise UploadRejected(422, f"the image does not fit this model: {error}") from error
            except MedimgError as error:
                raise UploadRejected(422, str(error)) from error
        row = self.storage.add_report(
            model_name=self.info.name,
            task=self.model.task,
            input_format=fmt,
            input_info=input_info,
            model_info={"network": self.info.network, "class_names": self.info.class_names},
            **fields,
        )
        logger.info(
            "report %s: %s upload (%d bytes) -> %s (%.3f) in %.0f ms",
            row.id,
            fmt,
            len(data),
            row.label,
            row.confidence,
            1000 * (time.perf_counter() - started),
        )
        return row

    def _classify(self, image: ImageData) -> dict[str, Any]:
        """Label, probabilities and (optionally) a heatmap: the report fields of a classification."""
        from medimg.explain.overlay import display_image, heatmap_rgba, png_bytes, representative_slice, thumbnail
        from medimg.tasks.classify.predict import predict_images

        (prediction,) = predict_images(
            self.model.network_,  # type: ignore[arg-type]
            self.model.plan_,
            self.info.class_names,
            [image],
            explain=self.info.explain_method,
        )
        heatmap = prediction.heatmap
        index = None
        if heatmap is not None and heatmap.ndim == 3 and image.array.ndim == 4:
            hot = representative_slice(heatmap)
            index = round(hot * (image.array.shape[1] - 1) / max(1, heatmap.shape[0] - 1))
        picture = thumbnail(display_image(image.array, image.meta, slice_index=index))
        size = (picture.shape[1], picture.shape[0])
        return {
            "label": prediction.label,
            "label_index": prediction.label_index,
            "confidence": prediction.confidence,
            "probabilities": prediction.probabilities,
            "explain_method": prediction.explain_method,
            "image_png": png_bytes(picture),
            "heatmap_png": png_bytes(heatmap_rgba(heatmap, size)) if heatmap is not None else None,
            "overlay_png": prediction.overlay_png,
        }

    def _segment(self, image: ImageData, fmt: str) -> dict[str, Any]:
        """Mask (NIfTI for NIfTI uploads and volumes, else PNG), per-class measurements and an overlay: the report
        fields of a segmentation."""
        from medimg.explain.overlay import display_image, png_bytes, thumbnail
        from medimg.export.segment import summarise
        from medimg.serve.segmentation import mask_file, measurements, overlay_picture, representative_slice
        from medimg.tasks.segment.evaluate import segment_image

        plan: Any = self.model.plan_
        labels, probs = segment_image(self.model.network_, plan, image)  # type: ignore[arg-type]
        names = self.info.class_names
        summary = summarise(labels, probs, names, image.spacing_mm)
        segmentation = measurements(labels, summary.probabilities, names, image.spacing_mm)
        mask, mask_format = mask_file(
            labels,
            nifti=fmt == "nifti",
            affine=image.affine,
            spacing_mm=image.spacing_mm,
            colours=self._mask_colours,
            num_classes=len(names),
        )
        segmentation["mask_format"] = mask_format
        segmentation["postprocessing"] = str(plan.postprocessing)
        index = representative_slice(labels)
        if index is not None:
            segmentation["overlay_slice"] = index
        picture = thumbnail(display_image(image.array, image.meta, slice_index=index))
        shown = labels[index] if index is not None else labels
        return {
            "label": summary.label,
            "label_index": names.index(summary.label),
            "confidence": summary.confidence,
            "probabilities": summary.probabilities,
            "explain_method": None,
            "image_png": png_bytes(picture),
            "heatmap_png": None,
            "overlay_png": png_bytes(overlay_picture(picture, shown)),
            "segmentation": segmentation,
            "mask_data": mask,
        }

    def _detect(self, image: ImageData) -> dict[str, Any]:
        """Boxes (in the image's pixels), counts per class and the boxes drawn over the image: the report fields of
        a detection."""
        from medimg.explain.overlay import display_image, png_bytes, thumbnail
        from medimg.serve.detection import detection_fields
        from medimg.tasks.detect.predict import predict_image

        plan: Any = self.model.plan_
        prediction = predict_image(self.model.network_, plan, image)  # type: ignore[arg-type]
        return {
            **detection_fields(prediction, plan.nms_iou),
            "image_png": png_bytes(thumbnail(display_image(image.array, image.meta))),
        }

    def _deidentify(self, path: Path) -> dict[str, Any]:
        """De-identify the DICOM file in place; return the non-identifying facts worth keeping."""
        from medimg.io.deidentify import deidentify_file

        try:
            dataset = deidentify_file(path, salt=self._uid_salt)
        except ImageReadError as error:
            raise UploadRejected(422, f"the DICOM file cannot be read: {error.reason}") from error
        facts: dict[str, Any] = {"patient_identity_removed": True}
        for keyword in (
            "Modality",
            "BodyPartExamined",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "PhotometricInterpretation",
        ):
            value = dataset.get(keyword)
            if value not in (None, ""):
                facts[keyword] = str(value)
        return facts
