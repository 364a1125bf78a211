"""Items joined into groups pair by pair (union-find): a patient's images with their copies' (splits), images
that are one picture (near-duplicates)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

#: what items are: indices or names (ordered, so a group's root is its smallest item)
K = TypeVar("K", int, str)


class DisjointSets(Generic[K]):
    """Each item starts alone; :meth:`join` merges two items' groups, whose root is the smallest of their roots
    (so a group is named by its first key, whatever order the pairs come in)."""

    def __init__(self, items: Iterable[K]) -> None:
        self._parent: dict[K, K] = {item: item for item in items}

    def root(self, item: K) -> K:
        """The item that names ``item``'s group (path halving keeps the chains short)."""
        parent = self._parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def join(self, a: K, b: K) -> None:
        """Merge the groups of ``a`` and ``b``."""
        first, second = self.root(a), self.root(b)
        if first != second:
            low, high = (first, second) if first < second else (second, first)
            self._parent[high] = low
