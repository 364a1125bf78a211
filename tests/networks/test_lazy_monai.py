"""Importing MONAI takes seconds (its package imports every submodule): medimg imports it only when a MONAI
network is built or an image needs resizing, so a CLI refusal, ``simple-cnn`` and native-size inputs start fast."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import numpy as np
from medimg.networks import create_network
from medimg.planning.plan import Plan
from medimg.transforms.preprocess import preprocess_arrays
import medimg.cli.app, medimg.model

create_network("simple-cnn", in_channels=1, num_classes=2, input_size=32)
plan = Plan(input_size=[32, 32], network="simple-cnn")
preprocess_arrays([np.zeros((1, 32, 32), np.float32)], plan)
print("monai" in sys.modules)
create_network("resnet18", in_channels=1, num_classes=2, input_size=32)
print("monai" in sys.modules)
"""


def test_monai_is_imported_only_when_a_monai_network_is_built() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
