"""Name -> object registries, one per extension point.

A new dataset, model family, importance method or agreement metric is one entry in
one of these registries; configs refer to entries by name, and an unknown name gets
an error listing the names that exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A config or caller named an entry that the registry does not have."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry(Generic[T]):
    """A named collection of extension objects (classes, specs or functions).

    >>> METRICS = Registry("metric")
    >>> @METRICS.register("kendall_tau")
    ... def tau(a, b): ...
    >>> METRICS.names()
    ['kendall_tau']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (names are unique)."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj

    def get(self, name: str, *, where: str = "") -> T:
        """The entry called ``name``; the error names the allowed values."""
        try:
            return self._entries[name]
        except KeyError:
            place = f" (at {where})" if where else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{place}; choose one of: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._entries[name]) for name in self.names()]
