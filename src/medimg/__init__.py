"""medimg: deep-learning medical image analysis.

Public API::

    from medimg import Dataset, Model
    ds = Dataset.load("data/herlev")
    model = Model("resnet18", task="classify").fit(ds)
    report = model.evaluate(ds, split="test")

Importing ``medimg`` is light: torch and the heavy modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Dataset", "Model", "__version__"]

if TYPE_CHECKING:
    from medimg.data.dataset import Dataset
    from medimg.model import Model


def __getattr__(name: str) -> Any:
    if name == "Dataset":
        from medimg.data.dataset import Dataset

        return Dataset
    if name == "Model":
        from medimg.model import Model

        return Model
    raise AttributeError(f"module 'medimg' has no attribute {name!r}")
