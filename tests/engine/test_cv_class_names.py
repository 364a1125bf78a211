"""Cross-validation's warnings about small classes name them (they said "class number 1")."""

from __future__ import annotations

import pytest

from medimg.config import FitOptions
from medimg.data.case import Case
from medimg.engine.cross_validation import _new_folds


def test_the_folds_warnings_name_the_small_class(caplog: pytest.LogCaptureFixture) -> None:
    cases = [Case(case_id=f"c{i}", label=int(i < 4)) for i in range(60)]  # 4 images of class 1
    with caplog.at_level("WARNING"):
        _new_folds(cases, FitOptions(folds=5, seed=0), ["normal", "cyst"])
    assert "class 'cyst' (" in caplog.text
    assert "class number" not in caplog.text
