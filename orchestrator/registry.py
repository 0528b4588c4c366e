"""Registries of extensible kinds (check kinds, wait kinds, runtimes): explicit objects built by their
`default_*()` function, never import-time globals; a duplicate is refused, an unknown name lists the known."""

from __future__ import annotations

from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    what = "entry"  # how an unknown name is reported: "unknown <what> <name>"

    def __init__(self, entries: Iterable[T] = (), *, key: Callable[[T], str] = lambda entry: entry.name, ordered: bool = False):
        self._key = key
        self._ordered = ordered  # keep the order given (a preference), else list names sorted
        self._entries: dict[str, T] = {}
        for entry in entries:
            self.register(entry)

    def register(self, entry: T) -> None:
        name = self._key(entry)
        if name in self._entries:
            raise ValueError(f"{self.what} {name} registered twice")
        self._entries[name] = entry

    def names(self) -> list[str]:
        return list(self._entries) if self._ordered else sorted(self._entries)

    def unknown(self, name: str) -> Exception:
        return KeyError(f"unknown {self.what} {name} (known: {', '.join(self.names())})")

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise self.unknown(name)
        return self._entries[name]

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries[name] for name in self.names())
