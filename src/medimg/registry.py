"""A small typed registry: ``register`` / ``create`` / ``list`` with did-you-mean errors (timm style)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from medimg.errors import ConfigError, did_you_mean

T = TypeVar("T")


def spelled_as(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` spells with other case or separators (``efficientnet_b0``, ``ResNet-18`` for
    ``efficientnet-b0``, ``resnet18``: torchvision's and timm's spellings), else ``None``."""
    bare = re.sub(r"[-_ .]", "", name.lower())
    return next((choice for choice in choices if re.sub(r"[-_ .]", "", choice.lower()) == bare), None)


class Registry(Generic[T]):
    """Maps names to factories of ``T``.

    Example:
        >>> networks: Registry[object] = Registry("network")
        >>> @networks.register("tiny")
        ... def tiny(**kw): return object()
        >>> networks.list("ti*")
        ['tiny']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name`` (lower-case, unique)."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            key = name.lower()
            if key in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[key] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        """Return the factory for ``name``; unknown names raise :class:`ConfigError` with close matches."""
        key = name.lower()
        if key not in self._factories:
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, self._factories)} "
                f"Available: {', '.join(sorted(self._factories))}."
            )
        return self._factories[key]

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the object registered under ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style ``pattern``."""
        return sorted(n for n in self._factories if fnmatch.fnmatch(n, pattern.lower()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._factories
