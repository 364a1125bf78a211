"""Decode worker processes import the calling script again (multiprocessing's rule): ``predict_iter`` in a script
without ``if __name__ == "__main__":`` must not run its top level (a fit) a second time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from medimg import Model
from tests import test_api_library
from tests.data.test_given_arrays import two_class_images

fitted = test_api_library.fitted  # the small classifier trained once per module


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("from medimg.tasks.classify.stream import workers_can_start\nprint(workers_can_start())\n", "False"),
        (
            "from medimg.tasks.classify.stream import workers_can_start\n"
            "if __name__ == '__main__':\n    print(workers_can_start())\n",
            "True",
        ),
    ],
)
def test_decode_workers_start_only_where_they_cannot_rerun_the_script(
    tmp_path: Path, script: str, expected: str
) -> None:
    (tmp_path / "script.py").write_text(script)
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == expected
    interactive = [sys.executable, "-c", "from medimg.tasks.classify.stream import workers_can_start as w; print(w())"]
    assert subprocess.run(interactive, capture_output=True, text=True, check=True).stdout.strip() == "True"


def test_predict_iter_in_an_unguarded_script_runs_its_top_level_once(fitted: Model, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i, image in enumerate(two_class_images(12, seed=3)[0]):
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    (tmp_path / "script.py").write_text(
        "import os\n"
        "with open('top.txt', 'a') as f: f.write(f'{os.getpid()}\\n')\n"
        "from medimg import Model\n"
        f"m = Model.load({str(fitted.run_dir_)!r})\n"
        "print(sum(1 for _ in m.predict_iter('many', chunk_size=4)))\n"
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "12"
    assert len((tmp_path / "top.txt").read_text().splitlines()) == 1, done.stderr  # no worker ran it again
    assert "Traceback" not in done.stderr
