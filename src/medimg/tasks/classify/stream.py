"""Streaming classification over many files: a decode pool reads the next chunks while the network runs.

``medimg predict RUN FOLDER`` on 100,000 images must neither hold them all in memory nor leave cores idle. The
files are cut into chunks (:data:`CHUNK_SIZE` images); a small pool of decode workers reads chunks ahead (PNG
decoding, window, the training-domain check of :class:`~medimg.planning.domain.InputReader`) while the calling
process preprocesses and runs the network on the chunk in hand, and predictions are yielded in file order. At
most ``prefetch`` chunks are read ahead of the one being predicted, so memory is bounded by
``(prefetch + 1) * chunk_size`` images whatever the number of files.

Both engines share this loop; each brings only its per-chunk prediction function (PyTorch:
:func:`medimg.tasks.classify.predict.predict_images`, ONNX Runtime:
:meth:`medimg.export.predictor.OnnxPredictor.predict_arrays`). This module never imports torch.

Decode pool: processes by default. Reading a 28 px PNG costs about 0.4 ms of which Pillow's decoding is a
third; the rest (format sniffing, array conversion, the domain statistics) is Python holding the GIL, so threads
barely overlap it with the network (``decode_pool="thread"`` stays available and is what tests use to count
reads). Small inputs (at most one chunk) are read in the calling process: a pool would cost more than it saves.
Worker processes import the calling script again (multiprocessing's rule): a script's top-level code (a ``fit``...)
would run again in each of them. So workers start by default only where that is safe (:func:`workers_can_start`):
the CLI, an interactive session (Jupyter, the REPL, ``python -c``) or a script whose top level holds
``if __name__ == "__main__":``; a script without that guard reads in the calling process (same predictions, one
core), and an explicit ``decode_workers=N`` asks for workers anyway (should they still fail to start, the stream
says so once and reads the rest in the calling process). ``decode_workers=0`` never starts a worker.

Example:
    >>> stats = StreamStats()
    >>> for p in stream_predictions(files, reader, predict_chunk, stats=stats):   # doctest: +SKIP
    ...     print(p.source, p.label)
    >>> stats.failed, stats.images_per_s                                           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from medimg.errors import DatasetError, ImageReadError

if TYPE_CHECKING:
    from medimg.io.image import ImageData

logger = logging.getLogger(__name__)

#: Images per chunk: large enough that a chunk is one efficient network batch and the pool's per-task overhead
#: (pickling, scheduling) is negligible, small enough that a few chunks of 28-512 px images stay within tens of MB.
CHUNK_SIZE = 256
#: Out-of-domain inputs warned about one by one; beyond them one summary says how many more there were (a folder of
#: 100,000 images from another scanner would otherwise print 100,000 warnings).
DOMAIN_WARNINGS = 20
#: A long stream logs how far it is at most this often (seconds): ``predict`` over 100,000 images said nothing
#: until its last image, in a log file and on a terminal alike.
PROGRESS_EVERY_S = 10.0
#: Chunks read ahead per decode worker (one being decoded, one waiting), so the network never waits for the pool
#: unless decoding is the slower side.
PREFETCH_PER_WORKER = 2

DecodePool = Literal["process", "thread"]


class StreamedPrediction(Protocol):
    """What the stream needs of a prediction (e.g. :class:`medimg.tasks.classify.predict.Prediction`): its source
    and the domain verdict the stream sets."""

    source: str
    domain: dict[str, Any] | None


Prediction = TypeVar("Prediction", bound=StreamedPrediction)


class Reader(Protocol):
    """What the loop needs of a reader: :meth:`read` one file; ``verdicts`` (optional) holds its domain checks."""

    def read(self, path: Path) -> ImageData: ...


@dataclass
class ReadChunk:
    """The outcome of reading one chunk of files (returned by a decode worker).

    Attributes:
        images: the readable files' images, in file order.
        domains: per image, its domain verdict as JSON (``{"in_domain", "reasons"}``) or ``None``.
        failed: ``(path, reason)`` of the files that could not be used.
        read_s: seconds spent reading (in the worker).
        worker_peak_rss_mb: the reading process's peak resident memory so far (MB; 0 where unknown).
    """

    images: list[ImageData] = field(default_factory=list)
    domains: list[dict[str, Any] | None] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    read_s: float = 0.0
    worker_peak_rss_mb: float = 0.0


@dataclass
class StreamStats:
    """What a stream did, filled in while it runs (the caller reads it after, or during, the iteration).

    Attributes:
        images: predictions yielded.
        failed: ``(path, reason)`` of the files that could not be used, in file order.
        decode_s: seconds the decode workers spent reading (summed over workers).
        wait_s: seconds the calling process waited for a chunk to be decoded.
        network_s: seconds of preprocessing + network + result records in the calling process.
        wall_s: seconds from the start of the iteration to its end.
        decode_workers: workers used (0: read in the calling process).
        out_of_domain: predictions whose input lies outside the training domain.
        max_chunks_held: the most chunks read or being read but not yet predicted at any time (the memory bound:
            at most ``2 * prefetch``).
        chunks_read_here: chunks the calling process read itself while the pool was behind.
        worker_peak_rss_mb: the largest peak resident memory of a decode worker (MB; with ``decode_pool="process"``).
    """

    images: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    decode_s: float = 0.0
    wait_s: float = 0.0
    network_s: float = 0.0
    wall_s: float = 0.0
    decode_workers: int = 0
    out_of_domain: int = 0
    max_chunks_held: int = 0
    chunks_read_here: int = 0
    worker_peak_rss_mb: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "failed": len(self.failed),
            "out_of_domain": self.out_of_domain,
            "decode_s": round(self.decode_s, 3),
            "wait_s": round(self.wait_s, 3),
            "network_s": round(self.network_s, 3),
            "wall_s": round(self.wall_s, 3),
            "images_per_s": round(self.images_per_s, 1),
            "decode_workers": self.decode_workers,
            "max_chunks_held": self.max_chunks_held,
            "chunks_read_here": self.chunks_read_here,
            "worker_peak_rss_mb": round(self.worker_peak_rss_mb, 1),
        }


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_decode_workers(cores: int | None = None) -> int:
    """One decode worker per core but one (the calling process runs the network), at least 1, at most 8."""
    return max(1, min(8, (cores or available_cores()) - 1))


def workers_can_start() -> bool:
    """Whether decode worker processes may start without re-running the user's code: ``forkserver`` and ``spawn``
    workers import the main module again, so a script's top-level code (a ``fit``, a second training run) runs
    again in each worker unless the script guards it with ``if __name__ == "__main__":``.

    True for an interactive session (no main file: Jupyter, the REPL, ``python -c``), a package run with
    ``python -m pkg`` (its ``__main__`` is never imported again), and a main file whose top level holds that guard
    (a console script such as ``medimg``, or a guarded user script); False for an unguarded or unreadable one.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        return True
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.endswith("__main__"):
        return True
    import ast

    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.If) and _is_main_guard(node.test) for node in tree.body)


def _is_main_guard(test: Any) -> bool:
    """True for ``__name__ == "__main__"`` (either way round)."""
    import ast

    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    texts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and texts == ["__main__"]


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (0 where the OS does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def read_chunk(reader: Reader, paths: Sequence[Path]) -> ReadChunk:
    """Read ``paths`` with ``reader`` (in a decode worker); unreadable or refused files go to ``failed``.

    The reader's verdict for each file is taken out of ``reader.verdicts`` (so a long-lived reader does not grow
    with the number of files) and returned beside the image.
    """
    started = time.perf_counter()
    chunk = ReadChunk()
    verdicts: dict[str, Any] | None = getattr(reader, "verdicts", None)
    for path in paths:
        try:
            image = reader.read(path)
        except ImageReadError as error:
            chunk.failed.append((str(path), error.reason))
            if verdicts is not None:
                verdicts.pop(str(path), None)
            continue
        verdict = verdicts.pop(image.source, None) if verdicts is not None else None
        chunk.images.append(image)
        chunk.domains.append(verdict.to_dict() if verdict is not None else None)
    chunk.read_s = time.perf_counter() - started
    chunk.worker_peak_rss_mb = peak_rss_mb()
    return chunk


def _pool(kind: DecodePool, workers: int) -> Executor:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medimg-decode")
    # forkserver (POSIX) / spawn: workers start from a clean interpreter, not a fork of a process that already
    # runs torch's or ONNX Runtime's thread pools; they import only medimg.io (no torch)
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def _predict_chunk_tolerant(
    predict_chunk: Callable[[list[ImageData]], list[Prediction]], chunk: ReadChunk
) -> tuple[list[Prediction], list[dict[str, Any] | None], list[tuple[str, str]]]:
    """Predict a chunk; when it holds an image the model cannot take (3D for a 2D model, 5 channels), predict its
    images one by one so that only those files fail (with the reason), as an unreadable file does."""
    try:
        return predict_chunk(chunk.images), chunk.domains, []
    except DatasetError:
        pass
    predictions, domains, failed = [], [], []
    for image, domain in zip(chunk.images, chunk.domains, strict=True):
        try:
            predictions += predict_chunk([image])
            domains.append(domain)
        except DatasetError as error:
            failed.append((image.source, str(error)))
    return predictions, domains, failed


def stream_predictions(
    paths: Sequence[Path],
    reader: Reader,
    predict_chunk: Callable[[list[ImageData]], list[Prediction]],
    *,
    chunk_size: int | None = None,
    decode_workers: int | None = None,
    decode_pool: DecodePool = "process",
    prefetch: int | None = None,
    steal: bool = True,
    stats: StreamStats | None = None,
) -> Iterator[Prediction]:
    """Predictions for ``paths`` in file order, read by a decode pool while the network runs.

    Args:
        paths: the files (see :func:`medimg.io.inputs.expand_inputs`).
        reader: reads one file and checks its domain (:class:`~medimg.planning.domain.InputReader`); it must be
            picklable for ``decode_pool="process"``.
        predict_chunk: read images -> one prediction each, in order (the engine's batch prediction).
        chunk_size: files per chunk (one network call; default :data:`CHUNK_SIZE`).
        decode_workers: decode workers (default :func:`default_decode_workers` where :func:`workers_can_start`,
            else 0); 0 reads in this process.
        decode_pool: ``"process"`` (default) or ``"thread"``.
        prefetch: chunks given to the pool ahead of the one being predicted (default ``PREFETCH_PER_WORKER`` per
            worker).
        steal: when the next chunk is not decoded yet, read one in this process instead of waiting (at most
            ``prefetch`` more chunks held): the network's idle time decodes too.
        stats: filled in with counts, timings and the failed files as the stream runs.

    Yields:
        One :class:`~medimg.tasks.classify.predict.Prediction` per usable file, its ``domain`` set from the
        reader's verdict. Unusable files (unreadable, refused in strict mode, a shape the model cannot take) are
        logged and listed in ``stats.failed``.

    Raises:
        ConfigError: the reader's window does not fit an image (as :meth:`InputReader.read`).
    """
    stats = stats if stats is not None else StreamStats()
    notes = None
    if getattr(reader, "warn_each", False) and dataclasses.is_dataclass(reader):
        # verdicts and notes on the inputs (an EXIF orientation, transparent pixels) are said here, in file order
        # (verdicts at most DOMAIN_WARNINGS of them), not in the workers
        notes = getattr(reader, "notes", None)
        reader = dataclasses.replace(reader, warn_each=False)
    chunk_size = max(1, int(chunk_size or CHUNK_SIZE))
    chunks = [list(paths[i : i + chunk_size]) for i in range(0, len(paths), chunk_size)]
    if decode_workers is not None:
        workers = max(0, int(decode_workers))
    elif decode_pool == "process" and not workers_can_start():
        workers = 0  # workers would run the unguarded script's top level again (a second fit...)
        logger.info(
            "reading in this process: decode workers would run this script again (it has no `if __name__ == "
            '"__main__":`); guard it, or pass decode_workers=N, to decode on more cores'
        )
    else:
        workers = default_decode_workers()
    if len(chunks) <= 1:
        workers = 0  # one chunk: nothing to overlap, and starting a pool costs more than reading it
    stats.decode_workers = workers
    started = time.perf_counter()
    pool = _pool(decode_pool, workers) if workers else None
    ahead = max(1, prefetch if prefetch is not None else PREFETCH_PER_WORKER * max(1, workers))
    pending: deque[tuple[Future[ReadChunk], bool]] = deque()  # (chunk, read here) in file order
    next_chunk = 0
    consumed = 0  # chunks taken out of ``pending`` so far
    said_at = 0.0  # seconds into the stream of the last progress line
    try:
        while next_chunk < len(chunks) or pending:
            if pool is not None:
                while next_chunk < len(chunks) and sum(not here for _, here in pending) < ahead:
                    pending.append((pool.submit(read_chunk, reader, chunks[next_chunk]), False))
                    next_chunk += 1
            waited = time.perf_counter()
            if next_chunk < len(chunks) and (
                pool is None or (not pending[0][0].done() and len(pending) < 2 * ahead and steal)
            ):
                # the next decoded chunk is not ready: read one here rather than wait idle (it keeps its turn)
                done: Future[ReadChunk] = Future()
                done.set_result(read_chunk(reader, chunks[next_chunk]))
                pending.append((done, True))
                next_chunk += 1
                stats.chunks_read_here += 1
                if pool is not None:
                    stats.max_chunks_held = max(stats.max_chunks_held, len(pending))
                    continue
            stats.max_chunks_held = max(stats.max_chunks_held, len(pending))
            future, here = pending.popleft()
            try:
                chunk = future.result()
            except BrokenProcessPool:
                # a worker could not start: typically a script without `if __name__ == "__main__":`, which the
                # workers import again (multiprocessing's rule); go on reading here, from the chunk that failed
                logger.warning(
                    'decode workers stopped (a script that predicts with them needs `if __name__ == "__main__":`); '
                    "reading the images in this process instead"
                )
                pool.shutdown(wait=False, cancel_futures=True)  # type: ignore[union-attr]
                pool, pending, next_chunk = None, deque(), consumed
                stats.decode_workers = 0
                continue
            consumed += 1
            stats.wait_s += time.perf_counter() - waited
            stats.decode_s += chunk.read_s
            if not here and decode_pool == "process":
                stats.worker_peak_rss_mb = max(stats.worker_peak_rss_mb, chunk.worker_peak_rss_mb)
            for path, reason in chunk.failed:
                logger.warning("skipped %s: %s", path, reason)
            stats.failed += chunk.failed
            if not chunk.images:
                continue
            if notes is not None:
                for image in chunk.images:
                    notes.note(image)
            computed = time.perf_counter()
            predictions, domains, refused = _predict_chunk_tolerant(predict_chunk, chunk)
            stats.network_s += time.perf_counter() - computed
            for path, reason in refused:
                logger.warning("skipped %s: %s", path, reason)
            stats.failed += refused
            for prediction, domain in zip(predictions, domains, strict=True):
                if domain is not None:
                    prediction.domain = domain
                    if not domain["in_domain"]:
                        _warn_out_of_domain(prediction.source, domain["reasons"], stats)
            del chunk
            stats.images += len(predictions)
            stats.wall_s = time.perf_counter() - started
            if consumed < len(chunks) and stats.wall_s - said_at >= PROGRESS_EVERY_S:
                said_at = stats.wall_s
                _log_progress(stats, sum(len(c) for c in chunks[:consumed]), len(paths))
            yield from predictions
    finally:
        for future, _ in pending:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        stats.wall_s = time.perf_counter() - started
        if stats.out_of_domain > DOMAIN_WARNINGS:
            logger.warning(
                "%d of %d images are outside the model's training domain (the first %d are listed above); each "
                'prediction\'s "domain" says why',
                stats.out_of_domain,
                stats.images,
                DOMAIN_WARNINGS,
            )


def _log_progress(stats: StreamStats, done: int, total: int) -> None:
    """One line of how far a long stream is: ``predicted 2,560 of 100,000 files (512 images/s), ~3 min left``."""
    rate = done / stats.wall_s if stats.wall_s > 0 else 0.0
    left = (total - done) / rate if rate > 0 else math.inf
    when = "" if not math.isfinite(left) else f", ~{left:.0f} s left" if left < 120 else f", ~{left / 60:.0f} min left"
    logger.info("predicted %s of %s files (%.0f images/s)%s", f"{done:,}", f"{total:,}", stats.images_per_s, when)


def _warn_out_of_domain(source: str, reasons: list[str], stats: StreamStats) -> None:
    """The warning :meth:`InputReader.check <medimg.planning.domain.InputReader.check>` gives, for the first
    :data:`DOMAIN_WARNINGS` out-of-domain inputs of a stream."""
    stats.out_of_domain += 1
    if stats.out_of_domain <= DOMAIN_WARNINGS:
        logger.warning(
            "%s is outside the model's training domain: %s. The prediction may be wrong; --strict refuses such inputs",
            source,
            "; ".join(reasons),
        )
