"""What the CLI prints through logging: medimg's own messages, not other libraries' INFO chatter (the ONNX
exporter's optimiser printed a dozen "INFO Removed 72 unused nodes" lines after every `medimg export`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EMIT = """
import logging
from medimg.cli.app import configure_logging
configure_logging(*map(int, __import__("sys").argv[1:]))
logging.getLogger("onnxscript.optimizer").info("library chatter")
logging.getLogger("onnxscript.optimizer").warning("library warning")
logging.getLogger("medimg.engine.run").info("medimg progress")
logging.getLogger("medimg.engine.run").warning("medimg warning")
"""


#: the time at the start of each log line where stderr is a file or a pipe (a Slurm job's log)
WHEN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def _stderr(rank: int) -> str:
    """The log lines, without the time each begins with (standard error is a pipe here)."""
    result = subprocess.run([sys.executable, "-c", EMIT, str(rank)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(WHEN.match(line) for line in lines), result.stderr
    return "\n".join(WHEN.sub("", line) for line in lines)


def test_log_lines_in_a_file_carry_the_time_and_on_a_terminal_do_not() -> None:
    """A Slurm log said `INFO ...` with no time: when a job stalled could not be told."""
    piped = subprocess.run([sys.executable, "-c", EMIT, "0"], capture_output=True, text=True, timeout=120)
    assert WHEN.match(piped.stderr), piped.stderr
    on_terminal = on_a_terminal([sys.executable, "-c", EMIT, "0"])
    assert on_terminal.splitlines()[:2] == ["WARNING library warning", "INFO medimg progress"], on_terminal


def on_a_terminal(command: list[str], env: dict[str, str] | None = None) -> str:
    """What ``command`` writes to standard error when that is a terminal (a pseudo-terminal, 120 columns)."""
    import fcntl
    import pty
    import struct
    import termios

    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=secondary, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    process.wait(timeout=120)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def test_the_first_process_shows_medimg_info_and_every_warning_but_no_library_info() -> None:
    lines = _stderr(0).splitlines()
    assert "INFO medimg progress" in lines and "WARNING medimg warning" in lines
    assert "WARNING library warning" in lines
    assert not any("library chatter" in line for line in lines)


def test_other_processes_show_warnings_only_with_their_rank() -> None:
    lines = _stderr(1).splitlines()  # the first process of another machine: its files may differ
    assert lines == ["[rank 1] WARNING library warning", "[rank 1] WARNING medimg warning"]


def test_the_other_processes_of_a_machine_repeat_no_warning() -> None:
    """`fit --nproc-per-node 2` printed every data warning twice, once with `[rank 1]`: both processes read the
    same files. The second process of a machine shows errors only."""
    emit = EMIT + 'logging.getLogger("medimg.engine.run").error("medimg error")\n'
    result = subprocess.run([sys.executable, "-c", emit, "1", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [WHEN.sub("", line) for line in result.stderr.splitlines()] == ["[rank 1] ERROR medimg error"]


def test_a_dicom_no_decoder_can_read_is_one_medimg_line_not_pydicoms_tracebacks(tmp_path: Path) -> None:
    """A 12-bit lossy JPEG DICOM on a machine without pylibjpeg: pydicom logged each failed decoder (GDCM, Pillow)
    with a full traceback; `medimg check` showed two tracebacks per file before naming it as unreadable."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGExtended12Bit, SecondaryCaptureImageStorage, generate_uid

    for cls in ("a", "b"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(2):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = JPEGExtended12Bit
            ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
            ds.Modality, ds.Rows, ds.Columns, ds.SamplesPerPixel = "OT", 64, 64, 1
            ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = "MONOCHROME2", 16, 12, 11
            ds.PixelRepresentation = 0
            ds.PixelData = encapsulate([b"\xff\xd8\xff\xc1\x00\x0b\x0c\x00\x40\x00\x40\x01\x01\x11\x00\xff\xd9"])
            ds["PixelData"].VR = "OB"
            ds.save_as(tmp_path / "data" / cls / f"{i}.dcm", enforce_file_format=True)
    assert pydicom.dcmread(tmp_path / "data" / "a" / "0.dcm").Rows == 64
    result = subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", "check", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert "0.dcm" in output and "JPEG Extended" in output  # medimg's own line: the file and its transfer syntax
    assert "Traceback" not in output and "ERROR" not in output


def test_an_error_under_torchrun_names_the_rank_of_the_other_processes(tmp_path: Path) -> None:
    """Every process printed the same `error:` line: the copy from rank 1 now says it is rank 1's."""
    env = {**os.environ, "RANK": "1", "WORLD_SIZE": "2"}
    result = subprocess.run(
        [sys.executable, "-m", "medimg.cli.app", "check", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("[rank 1] error:")


def test_pydicoms_value_checks_quoting_identifiers_stay_off_the_terminal(tmp_path: Path) -> None:
    """A legacy export's UIDs with a leading zero, a PatientID over its length: pydicom printed each value three
    times (a log line, a UserWarning, the line again) quoting the value, an identifier, on `medimg check`."""
    emit = """
import warnings, logging
from medimg.cli.app import configure_logging
configure_logging(0)
from pydicom.valuerep import validate_value
validate_value("UI", "1.2.826.0.1.3680043.9999.0.0.MRN100000", 1)
validate_value("SH", "MRN100000-SMITH-JOHN", 1)
logging.getLogger("pydicom").warning("other pydicom warning")
"""
    result = subprocess.run([sys.executable, "-c", emit], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "MRN100000" not in result.stderr, result.stderr
    assert "other pydicom warning" in result.stderr  # its other warnings still pass


REPEATS = """
import logging
from medimg.cli.app import configure_logging
configure_logging(0)
for _ in range(2):  # fit reads the dataset for its check and again for training
    logging.getLogger("medimg.data.layouts.csv_manifest").info("labels from its column 'dx'")
    logging.getLogger("medimg.io.read").warning("a.png is blank")
    logging.getLogger("medimg.engine.run").info("epoch done")
configure_logging(0)  # a second command in one process says its lines again
logging.getLogger("medimg.data.layouts.csv_manifest").info("labels from its column 'dx'")
"""


def test_what_a_command_said_about_the_data_is_said_once() -> None:
    """``medimg fit`` printed every line about the data twice (the check before training reads the set too)."""
    result = subprocess.run([sys.executable, "-c", REPEATS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [WHEN.sub("", line) for line in result.stderr.splitlines()]
    assert lines == [
        "INFO labels from its column 'dx'",
        "WARNING a.png is blank",
        "INFO epoch done",
        "INFO epoch done",
        "INFO labels from its column 'dx'",
    ], result.stderr
