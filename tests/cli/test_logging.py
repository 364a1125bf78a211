"""What the CLI prints through logging: medimg's own messages, not other libraries' INFO chatter (the ONNX
exporter's optimiser printed a dozen "INFO Removed 72 unused nodes" lines after every `medimg export`)."""

from __future__ import annotations

import subprocess
import sys

EMIT = """
import logging
from medimg.cli.app import configure_logging
configure_logging(int(__import__("sys").argv[1]))
logging.getLogger("onnxscript.optimizer").info("library chatter")
logging.getLogger("onnxscript.optimizer").warning("library warning")
logging.getLogger("medimg.engine.run").info("medimg progress")
logging.getLogger("medimg.engine.run").warning("medimg warning")
"""


def _stderr(rank: int) -> str:
    result = subprocess.run([sys.executable, "-c", EMIT, str(rank)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_the_first_process_shows_medimg_info_and_every_warning_but_no_library_info() -> None:
    lines = _stderr(0).splitlines()
    assert "INFO medimg progress" in lines and "WARNING medimg warning" in lines
    assert "WARNING library warning" in lines
    assert not any("library chatter" in line for line in lines)


def test_other_processes_show_warnings_only_with_their_rank() -> None:
    lines = _stderr(1).splitlines()
    assert lines == ["[rank 1] WARNING library warning", "[rank 1] WARNING medimg warning"]
