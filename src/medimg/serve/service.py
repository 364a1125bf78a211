"""From an uploaded file to a stored report: checks, de-identification, prediction, heatmap, storage.

This module knows nothing about HTTP; refusals are :class:`UploadRejected` with a status code and a message
the client can act on. Patient identifiers never reach a disk or a log line: a DICOM upload is de-identified
in memory (DICOM PS3.15 basic profile, :mod:`medimg.io.deidentify`) before anything is written; the image
readers then read a file in the service's private, swept working folder (:mod:`medimg.serve.workspace`) under
a fixed name (the client's file name is never used or stored); log lines carry only the report id, the format
and sizes.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medimg.errors import ConfigError, DatasetError, ImageReadError, ImageTooLargeError, MedimgError
from medimg.io.formats import is_npz, suffix_for
from medimg.io.inputs import shell_quoted
from medimg.io.windowing import window_from_json
from medimg.serve.idempotency import upload_digest
from medimg.serve.model_card import tested_performance, training_counts
from medimg.serve.rejections import UploadRejected
from medimg.serve.series_upload import is_zip, unpack_series
from medimg.serve.settings import ServeSettings
from medimg.serve.sniff import refuse_unrecognised
from medimg.serve.storage import LABEL_LENGTH, ReportRow, Storage
from medimg.serve.workers import CommitGuard
from medimg.serve.workspace import UploadWorkspace
from medimg.tasks.classify.operating_point_record import operating_point

if TYPE_CHECKING:
    from medimg.io.image import ImageData
    from medimg.model import Model

logger = logging.getLogger("medimg.serve")

SERVED_TASKS = ("classify", "segment", "detect")

ACCEPTED_FORMATS = (
    "dicom", "nifti", "png", "jpeg", "bmp", "tiff", "pnm", "webp", "jpeg2000", "metaimage", "nrrd", "npy", "npz",
    "hdf5",
)  # fmt: skip
ACCEPTED_NAMES = (
    "DICOM, NIfTI, PNG, JPEG, BMP, TIFF, PGM/PPM, WebP, JPEG 2000, MetaImage (.mha), NRRD, NumPy .npy, an image saved "
    "as arrays (.npz, HDF5 .h5), or a zip of one DICOM series"
)
SERIES_FORMAT = "dicom series"
"""The format of a zip upload holding a DICOM series (:mod:`medimg.serve.series_upload`)."""


@dataclass
class ModelInfo:
    name: str
    network: str
    task: str
    class_names: list[str]
    input: dict[str, Any]
    training: dict[str, Any]
    explain_method: str | None
    multi_label: bool = False
    weights_sha256: str = ""  # which trained weights answered (model.pt's digest in the run's metadata.json)
    performance: dict[str, Any] | None = None  # the run's own test evaluation (medimg.serve.model_card)
    operating_point: dict[str, Any] | None = None  # a two-class run's threshold chosen on validation, if any

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _header_count(dataset: Any, keyword: str, default: int) -> int:
    """A DICOM header's count (Rows, NumberOfFrames...) as the image readers take it: its first number, else
    ``default`` (a missing or malformed value, such as NumberOfFrames ``1A``, was a 500)."""
    value = dataset.get(keyword)
    first = value[0] if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and value else value
    try:
        number = float(str(first).strip()) if first not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return int(number) if number is not None and math.isfinite(number) else default


def _dicom_pixels(dataset: Any) -> int:
    rows, columns = _header_count(dataset, "Rows", 0), _header_count(dataset, "Columns", 0)
    frames = _header_count(dataset, "NumberOfFrames", 1)
    if rows <= 0 or columns <= 0:
        raise UploadRejected(
            422, "the DICOM file holds no image (no Rows/Columns): it is truncated or not an image object"
        )
    return rows * columns * max(frames, 1) * max(_header_count(dataset, "SamplesPerPixel", 1), 1)


#: a multi-frame upload's report lists at most this many frames' labels (all are predicted and counted)
MAX_LISTED_FRAMES = 2000


def _served_name(run_dir: Path) -> str:
    """The name reports give the served model: the run folder with its parent (``pneumonia/exp1``), since every
    data set's first run is ``exp1`` and several servers may share one database."""
    folder = run_dir.resolve()
    return f"{folder.parent.name}/{folder.name}" if folder.parent.name else folder.name


def stored_label(label: str, findings: list[str] | None) -> str:
    """A report's label as stored: a multi-label model's many findings joined may exceed the column
    (:data:`~medimg.serve.storage.LABEL_LENGTH`), then their count stands in."""
    return label if len(label) <= LABEL_LENGTH else f"{len(findings or [])} findings"


def frames_verdict(frames: list[ImageData], domain: Any) -> Any:
    """One domain verdict for the frames of an upload: inside when every frame is; the reasons of the first frames
    that are not (at most three, each named by its frame)."""
    from medimg.planning.domain import DomainVerdict, check_input_domain

    reasons: list[str] = []
    outside = 0
    for frame in frames:
        verdict = check_input_domain(frame, domain)
        if not verdict.in_domain:
            outside += 1
            if outside <= 3:
                reasons += [f"frame {frame.meta.get('frame')}: {reason}" for reason in verdict.reasons]
    if outside > 3:
        reasons.append(f"{outside} of {len(frames)} frames are outside the training domain")
    return DomainVerdict(source=frames[0].source if frames else "", reasons=reasons)


def might_be_dicom(data: bytes) -> bool:
    """True for anything :func:`~medimg.io.formats.detect_format` could call DICOM ("DICM" at 128, or a bare
    dataset's first group): such bytes are de-identified in memory before they are written anywhere."""
    from medimg.io.formats import looks_like_bare_dicom

    return data[128:132] == b"DICM" or looks_like_bare_dicom(data[:1024])


#: the readers' hints for a caller of read_image, and what a client of the service can do instead
_CLIENT_HINTS = (
    (
        "if the file is trusted, pass a larger max_pixels",
        "this server's limit (its operator sets medimg serve --max-pixels)",
    ),
    (". Pass series_uid=... or put each series in its own folder", ""),
)


def _for_a_client(reason: str, path: Path) -> str:
    """A reader's message with the hints meant for Python callers replaced by what an HTTP client can do, and the
    upload's file in the server's private work folder named by its name alone (Pillow's "cannot identify image file
    '/tmp/medimg-serve-0/server-23369-.../request-.../upload.png'" told a client the server's user, process and
    folders)."""
    for hint, instead in _CLIENT_HINTS:
        reason = reason.replace(hint, instead)
    for shown in (str(path), str(path.resolve())):
        reason = reason.replace(shown, path.name)
    return reason


def load_served_model(settings: ServeSettings) -> Model:
    """The model of ``settings.run_dir``, checked for serving: ``medimg serve`` calls this before it opens (or
    creates) the database, so a broken run is refused with nothing created.

    Raises:
        RunFolderError: the run is missing, incomplete, or its weights fail their SHA-256.
        ConfigError: the run's task is not one the service serves, it is a classical model (no network), or the
            explanation method is unknown or finds no layer to explain in the network.
    """
    from medimg.model import Model

    model = Model.load(settings.run_dir)
    if model.task not in SERVED_TASKS:
        raise ConfigError(
            f"{settings.run_dir} is a {model.task!r} model; the service serves {' and '.join(SERVED_TASKS)}"
        )
    if model.network_ is None:  # a classical model (random forest, SVM...): features and scikit-learn, no network
        raise ConfigError(
            f"{settings.run_dir} is a classical model ({model.network}): the service serves trained networks; "
            f"predict with it through `medimg predict {shell_quoted(settings.run_dir)} IMAGES` (Python: "
            "Model.load(RUN).predict), "
            "or serve a network run (medimg fit DATA --model resnet18)"
        )
    if settings.explain_method and model.task == "classify":
        from medimg.explain.cam import check_explainable

        check_explainable(model.network_, settings.explain_method)
    return model


class PredictionService:
    """The loaded model plus the storage; :meth:`process` turns upload bytes into a stored report.

    A classification run gives a label, class probabilities and a heatmap; a segmentation run gives a mask,
    per-class pixel/voxel counts with areas (mm^2) or volumes (mm^3) when the spacing is known, and an
    overlay; a detection run gives boxes, counts per class and the boxes drawn over the image. The model is
    loaded once; each worker thread of the inference pool gets its own copy of the network on first use
    (Grad-CAM hooks the network it explains), so requests never wait for each other's forward pass and a heavy
    one does not hold up the rest.

    Args:
        settings: the service's settings.
        storage: the open database.
        model: the model as :func:`load_served_model` returns it (loaded and checked here when None).

    Raises:
        RunFolderError: the run is missing, incomplete or altered.
        ConfigError: the run's task is not served, or the explanation method cannot explain its network.
    """

    def __init__(self, settings: ServeSettings, storage: Storage, *, model: Model | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.model = model if model is not None else load_served_model(settings)
        explain_method = settings.explain_method if self.model.task == "classify" else None
        metadata = self.model.metadata_
        self.info = ModelInfo(
            name=_served_name(Path(settings.run_dir)),
            network=str(metadata.get("network", "")),
            task=self.model.task,
            class_names=list(self.model.class_names_ or []),
            input=dict(metadata.get("input") or {}),
            training={k: v for k, v in (metadata.get("training") or {}).items() if k != "skipped_files"},
            explain_method=explain_method,
            multi_label=bool(getattr(self.model.plan_, "multi_label", False)),
            weights_sha256=str((metadata.get("weights_sha256") or {}).get("model.pt", "")),
            performance=tested_performance(Path(settings.run_dir)),
            # from the run itself, so a run trained without a test split (no report to read it from) still states it
            operating_point=operating_point(
                {
                    "plan": {"binary_threshold": getattr(self.model.plan_, "binary_threshold", None)},
                    "training": metadata.get("training") or {},
                }
            ),
        )
        self._mask_colours: dict[int, tuple[int, int, int]] | None = None
        self._mask_values: list[int] | None = None  # the training masks' values, where not the class indices
        if self.model.task == "segment":
            from medimg.export.segment import mask_colours
            from medimg.tasks.segment.masks import label_values

            self._mask_colours = mask_colours(self.model.plan_)
            self._mask_values = label_values(self.model.plan_.label_encoding)
        self._uid_salt = storage.secret("dicom_uid_salt")
        self._replicas = threading.local()
        # A classifier resizes to its input size, so an image too large for the budget is read reduced
        # (medimg.io.read.read_input); masks and boxes are given in the image's own pixels, so
        # segmentation and detection read at full resolution.
        plan: Any = self.model.plan_
        self._read_size: list[int] | None = list(plan.input_size) if self.model.task == "classify" else None
        self.workspace = UploadWorkspace(settings.work_dir)
        from medimg.planning.domain import load_training_domain

        # what the model was trained on: each upload is compared with it (flagged in the report, or refused)
        self.domain = load_training_domain(settings.run_dir)

    def close(self) -> None:
        """Remove this server's working folder."""
        self.workspace.close()

    def _network(self) -> Any:
        """This thread's copy of the network (made on the thread's first request)."""
        network = getattr(self._replicas, "network", None)
        if network is None:
            network = copy.deepcopy(self.model.network_)
            self._replicas.network = network
        return network

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
            raise UploadRejected(415, f"{fmt.upper()} files are not accepted; upload {ACCEPTED_NAMES}")
        if fmt in ("metaimage", "nrrd"):
            from medimg.errors import MissingDependencyError
            from medimg.io.formats import read_head
            from medimg.io.itk import detached_data_file, require_simpleitk

            try:
                require_simpleitk()
            except MissingDependencyError as error:
                raise UploadRejected(415, f"{fmt} uploads need SimpleITK on the server: {error}") from error
            data_file = detached_data_file(read_head(raw, 8192))
            if data_file is not None:
                raise UploadRejected(
                    422,
                    f"the upload is a {fmt} header whose pixels are in another file ({data_file!r}); upload one "
                    "file with the pixels inside: a .mha (MetaImage) or .nrrd, e.g. "
                    "SimpleITK.WriteImage(SimpleITK.ReadImage('scan.mhd'), 'scan.mha')",
                )
        return fmt

    def _check_pixels(self, count: int) -> None:
        if count > self.settings.max_pixels:
            raise UploadRejected(
                413, f"the image has {count:,} pixels, more than the limit of {self.settings.max_pixels:,}"
            )

    # ------------------------------------------------------------------ the pipeline
    def process(
        self,
        data: bytes,
        *,
        guard: CommitGuard | None = None,
        idempotency_key: str | None = None,
        token_id: str | None = None,
        explain_class: str | None = None,
    ) -> ReportRow:
        """Check, de-identify, predict (classify: label + heatmap; segment: mask + measurements; detect: boxes) and
        store one upload.

        Args:
            data: the uploaded file.
            guard: the inference pool's guard: the report is stored only if the request is still wanted.
            idempotency_key: the caller's key for this upload (:mod:`medimg.serve.idempotency`), stored with the
                report and the upload's digest.
            token_id: the id of the API token that sent the upload, stored with the report (whose reports a token
                reaches: :class:`~medimg.serve.storage.Scope`).
            explain_class: a classifier's class (name in any case, or index) the heatmap explains instead of the
                predicted one (``predict --explain-class``).

        Raises:
            UploadRejected: anything wrong with the upload (4xx), nothing stored.
            Abandoned: the request timed out (``guard``); nothing stored.
        """
        from medimg.io.orientation import canonical, reorients_inputs
        from medimg.io.read import read_input

        guard = guard or CommitGuard()
        started = time.perf_counter()
        target = self._explained_class(explain_class)
        self._check_upload(data)
        named = {"idempotency_key": idempotency_key, "upload_sha256": upload_digest(data)} if idempotency_key else {}
        input_info: dict[str, Any] = {"bytes": len(data)}
        dicom_facts = None
        if might_be_dicom(data):
            data, dicom_facts = self._deidentify(data)  # in memory: the original is never written
        with self.workspace.request_folder() as folder:
            if is_zip(data) and not is_npz(data):  # a DICOM series, de-identified slice by slice as it is unpacked
                path, dicom_facts = unpack_series(
                    data,
                    folder,
                    max_bytes=self.settings.max_image_bytes // 2,  # 16-bit slices, read as float32
                    deidentify=self._deidentify,
                    is_dicom=might_be_dicom,
                )
                fmt = SERIES_FORMAT
            else:
                refuse_unrecognised(data, ACCEPTED_NAMES)  # in memory: an unknown upload is never written
                raw = folder / "upload.bin"
                raw.write_bytes(data)
                fmt = self._sniff(raw)
                path = raw.rename(folder / f"upload{suffix_for(fmt, data[:2])}")
            input_info = {"format": fmt, **input_info}
            if dicom_facts is not None:
                input_info["dicom"] = dicom_facts
            window = window_from_json(self.model.metadata_.get("input", {}).get("window"))
            guard.check()
            try:
                options: dict[str, Any] = {
                    "window": window,
                    "max_pixels": self.settings.max_pixels,
                    "max_bytes": self.settings.max_image_bytes,
                    "dicom_display": self.domain.dicom_display if self.domain is not None else True,
                }
                image = read_input(path, self._read_size, **options)  # as training read it
            except ImageReadError as error:
                too_large = isinstance(error, ImageTooLargeError) or "decompression-bomb" in error.reason
                status = 413 if too_large else 422
                reason = _for_a_client(error.reason, Path(path))
                if fmt == SERIES_FORMAT:
                    raise UploadRejected(
                        status, f"the DICOM series cannot be read: {reason} (send one series per upload)"
                    ) from error
                raise UploadRejected(status, f"the {fmt.upper()} file cannot be read: {reason}") from error
        if fmt == SERIES_FORMAT:
            self._check_pixels(image.array.size)
        image.source = "upload.zip" if fmt == SERIES_FORMAT else f"upload.{fmt}"
        input_info["shape"] = list(image.meta.get("full_shape") or image.array.shape)
        if image.meta.get("reduced_by"):
            input_info["read_reduced_by"] = int(image.meta["reduced_by"])
        if image.spacing_mm is not None:
            input_info["spacing_mm"] = [round(float(s), 6) for s in image.spacing_mm]
        if image.meta.get("exif_orientation"):  # a phone's photo: its viewer shows it turned, the model does not
            input_info["exif_orientation"] = int(image.meta["exif_orientation"])
        oriented = bool(getattr(self.model.plan_, "canonical_orientation", False))
        if reorients_inputs(self.model.task, oriented):  # as training read it
            image = canonical(image)[0]
        frames = self._frames(image, fmt)
        if frames is not None:
            input_info["frames"] = {"count": len(frames)}
        if self.domain is not None:
            from medimg.data.tiff_stacks import as_judged
            from medimg.planning.domain import check_input_domain

            judged = as_judged(image, self._by_sections)
            judged = canonical(judged)[0] if oriented else judged  # sizes and spacings in the network's axis order
            verdict = check_input_domain(judged, self.domain) if frames is None else frames_verdict(frames, self.domain)
            verdict.source = image.source
            if not verdict.in_domain and self.settings.strict_domain:
                raise UploadRejected(
                    422,
                    "the image is outside the model's training domain: " + "; ".join(verdict.reasons) + " (this "
                    "server refuses such images: --strict-domain)",
                )
            input_info["domain"] = verdict.to_dict()
        guard.check()
        try:
            if self.model.task == "segment":
                fields = self._segment(image, fmt)
            elif self.model.task == "detect":
                fields = self._detect(image)
            elif frames is not None:
                fields = self._classify_frames(frames, target)
                input_info["frames"] = fields.pop("frames")
            else:
                fields = self._classify(image, target)
        except DatasetError as error:  # named as the client knows the file, not by the request folder's name
            sent = "the uploaded DICOM series" if fmt == SERIES_FORMAT else f"the uploaded {fmt.upper()} file"
            raise UploadRejected(
                422, f"the image does not fit this model: {str(error).replace(image.source, sent)}"
            ) from error
        except MedimgError as error:
            raise UploadRejected(422, str(error)) from error
        shown = fields.pop("shown_slice", None)
        if shown is not None:  # which slice of a volume the pictures show (the same for all of them)
            input_info["shown_slice"] = shown.to_dict()
        row = guard.commit(
            lambda: self.storage.add_report(
                model_name=self.info.name,
                token_id=token_id,
                task=self.model.task,
                input_format=fmt,
                input_info=input_info,
                model_info={
                    "network": self.info.network,
                    "class_names": self.info.class_names,
                    "weights_sha256": self.info.weights_sha256,
                    **({"multi_label": True} if self.info.multi_label else {}),
                    "training_counts": training_counts(self.info.training),
                    **({"performance": self.info.performance} if self.info.performance else {}),
                    **({"operating_point": self.info.operating_point} if self.info.operating_point else {}),
                },
                **named,
                **fields,
            )
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

    def _frames(self, image: ImageData, fmt: str) -> list[ImageData] | None:
        """The frames of a multi-frame DICOM upload (an ultrasound cine, an angiography run) or the slices of a
        zipped series, for a 2D classifier, each predicted on its own; ``None`` for any other upload or model."""
        plan: Any = self.model.plan_
        dicom = fmt in ("dicom", SERIES_FORMAT)
        if not dicom or self.model.task != "classify" or plan.spatial_dims != 2 or image.array.ndim != 4:
            return None
        from medimg.io.series_inputs import frame_of

        return [frame_of(image, index, f"{image.source}#frame{index + 1}") for index in range(image.array.shape[1])]

    def _explained_class(self, name: str | None) -> int | None:
        """An upload's ``explain_class`` as an index of the model's classes; ``None`` for the predicted class.

        Raises:
            UploadRejected: 422: not a classifier, no heatmaps on this server, or not one of the model's classes.
        """
        if name is None:
            return None
        if self.model.task != "classify":
            raise UploadRejected(
                422, f"explain_class is for a classifier's heatmaps; this model's task is {self.model.task}"
            )
        if not self.info.explain_method:
            raise UploadRejected(
                422, "this server makes no heatmaps (started with --explain none): leave explain_class out"
            )
        from medimg.data.labels import class_by_name_or_index

        names = list(self.info.class_names)
        found = class_by_name_or_index(name, names)
        if found is not None:
            return found
        raise UploadRejected(
            422, f"explain_class {name!r} is not a class of this model: {', '.join(map(repr, names))} (or an index)"
        )

    def _classify_frames(self, frames: list[ImageData], explain_class: int | None = None) -> dict[str, Any]:
        """A multi-frame upload to a 2D classifier: every frame predicted; the report gives the label most frames
        have (the series summary of ``medimg predict``), the mean probabilities, each frame's label, and shows the
        frame most probably of that label with its heatmap."""
        from medimg.tasks.classify.predict import predict_images
        from medimg.tasks.series_prediction import classification_summary

        predictions = predict_images(self._network(), self.model.plan_, self.info.class_names, frames)
        summary = classification_summary(list(enumerate(predictions, start=1)))
        label = summary["majority_label"]
        shown = int(summary["max_probability"][label]["slice"])
        fields = self._classify(frames[shown - 1], explain_class)
        means = summary["mean_probabilities"]
        fields.update(label=label, label_index=self.info.class_names.index(label), confidence=means[label])
        fields["probabilities"] = means
        if self.info.multi_label:  # the findings of the mean probabilities, as for one image
            from medimg.tasks.classify.predict import NO_FINDING

            present = [name for name in sorted(means, key=lambda n: -means[n]) if means[name] >= 0.5]
            fields["label"] = stored_label("|".join(present) or NO_FINDING, present)
        fields["frames"] = {
            "count": len(frames),
            "shown": shown,
            "label_counts": summary["label_counts"],
            "per_frame": [
                {"frame": number, "label": p.label, "confidence": round(p.confidence, 6)}
                for number, p in enumerate(predictions[:MAX_LISTED_FRAMES], start=1)
            ],
        }
        return fields

    def _classify(self, image: ImageData, explain_class: int | None = None) -> dict[str, Any]:
        """Label, probabilities and (optionally) a heatmap: the report fields of a classification. The image and
        the heatmap are drawn as the overlay is (:func:`~medimg.explain.overlay.image_picture`: a volume's axial
        slice with the most heat, at its physical aspect ratio), so the page shows what the printed report does."""
        from medimg.explain.overlay import heatmap_rgba, image_picture, png_bytes
        from medimg.tasks.classify.predict import predict_images

        (prediction,) = predict_images(
            self._network(),
            self.model.plan_,
            self.info.class_names,
            [image],
            explain=self.info.explain_method,
            explain_class=explain_class,
        )
        heatmap = prediction.heatmap
        picture, shown = image_picture(
            image.array, image.meta, affine=image.affine, spacing=image.spacing_mm, evidence=heatmap
        )
        heatmap_png = None
        if heatmap is not None:
            plane = shown.cut(heatmap) if shown is not None and heatmap.ndim == 3 else heatmap
            heatmap_png = png_bytes(heatmap_rgba(plane, (picture.shape[1], picture.shape[0])))
        return {
            "label": stored_label(prediction.label, prediction.findings),
            "label_index": prediction.label_index,
            "confidence": prediction.confidence,
            "probabilities": prediction.probabilities,
            "explain_method": prediction.explain_method,
            "explained_class": prediction.explained_class,
            "image_png": png_bytes(picture),
            "heatmap_png": heatmap_png,
            "overlay_png": prediction.overlay_png,
            "shown_slice": shown,
        }

    @property
    def _by_sections(self) -> bool:
        """A 2D segmentation model: a stack (a multi-page TIFF) is segmented section by section."""
        from medimg.data.tiff_stacks import goes_by_sections

        return goes_by_sections(self.model.task, getattr(self.model.plan_, "spatial_dims", None))

    def _segment(self, image: ImageData, fmt: str) -> dict[str, Any]:
        """Mask (NIfTI for NIfTI uploads and volumes, else PNG), per-class measurements and an overlay: the report
        fields of a segmentation."""
        from medimg.data.tiff_stacks import is_stack
        from medimg.explain.overlay import image_picture, png_bytes
        from medimg.export.segment import summarise
        from medimg.serve.segmentation import mask_file, measurements, overlay_picture
        from medimg.tasks.segment.evaluate import segment_image, segment_sections

        plan: Any = self.model.plan_
        if self._by_sections and is_stack(image):  # a stack for a 2D model (a multi-page TIFF): section by section
            labels, probs = segment_sections(self._network(), plan, image)
        else:
            labels, probs = segment_image(self._network(), plan, image)
        names = self.info.class_names
        summary = summarise(labels, probs, names, image.spacing_mm)
        segmentation = measurements(labels, summary.probabilities, names, image.spacing_mm)
        mask, mask_format = mask_file(
            labels,
            nifti=fmt == "nifti",
            affine=image.affine,
            spacing_mm=image.spacing_mm,
            colours=self._mask_colours,
            values=self._mask_values,
            num_classes=len(names),
            squeezed_z=bool(image.meta.get("squeezed_z")),
            nifti_geometry=image.meta.get("nifti_geometry"),
        )
        segmentation["mask_format"] = mask_format
        segmentation["postprocessing"] = str(plan.postprocessing)
        evidence = labels > 0 if labels.ndim == 3 else None  # a volume: the axial slice with the most foreground
        picture, shown = image_picture(
            image.array, image.meta, affine=image.affine, spacing=image.spacing_mm, evidence=evidence
        )
        if shown is not None:
            segmentation["overlay_slice"] = shown.index
        return {
            "label": summary.label,
            "label_index": names.index(summary.label),
            "confidence": summary.confidence,
            "probabilities": summary.probabilities,
            "explain_method": None,
            "image_png": png_bytes(picture),
            "heatmap_png": None,
            "overlay_png": png_bytes(overlay_picture(picture, shown.cut(labels) if shown is not None else labels)),
            "shown_slice": shown,
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
        prediction = predict_image(self._network(), plan, image)
        return {
            **detection_fields(prediction, plan.nms_iou),
            "image_png": png_bytes(thumbnail(display_image(image.array, image.meta))),
        }

    def _deidentify(self, data: bytes) -> tuple[bytes, dict[str, Any]]:
        """De-identify DICOM bytes in memory; return the de-identified file and the facts worth keeping."""
        from medimg.io.deidentify import deidentify_bytes

        try:
            cleaned, dataset = deidentify_bytes(data, salt=self._uid_salt)
        except (ValueError, NotImplementedError) as error:  # NotImplementedError: pydicom's unknown VR ('CI')
            raise UploadRejected(422, f"the DICOM file cannot be read: {error}") from error
        if str(dataset.get("BurnedInAnnotation", "")).strip().upper() == "YES":  # the basic profile keeps pixels
            raise UploadRejected(
                422,
                "the DICOM file says its pixels carry burned-in annotation (BurnedInAnnotation YES: names or dates "
                "drawn into the image), which de-identification cannot remove and the report would store as a "
                "picture; send an image without it (cropped, or cleaned by a pixel de-identification tool)",
            )
        self._check_pixels(_dicom_pixels(dataset))
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
        return cleaned, facts
