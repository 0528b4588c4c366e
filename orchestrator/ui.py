"""Talking to the user: rich tables and progress on a terminal, plain aligned lines otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable


class Ui:
    def __init__(self, stream=None, err_stream=None, force_plain: bool | None = None):
        self.stream = stream or sys.stdout
        self.err_stream = err_stream or sys.stderr
        self.progress_stream = self.stream
        self.plain = (not self.stream.isatty()) if force_plain is None else force_plain

    def machine_output(self) -> None:
        """stdout carries only the JSON report; progress moves to stderr."""
        self.progress_stream = self.err_stream
        self.plain = True

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def progress(self, text: str) -> None:
        print(text, file=self.progress_stream, flush=True)

    def error(self, text: str) -> None:
        print(text, file=self.err_stream, flush=True)

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, default=str), file=self.stream, flush=True)

    def running(self, name: str):
        """A spinner while a step runs, on a terminal only."""
        import contextlib

        if self.plain:
            return contextlib.nullcontext()
        from rich.console import Console

        return Console(file=self.progress_stream).status(f"{name} ...")

    def table(self, headers: list[str], rows: Iterable[Iterable[Any]], title: str | None = None) -> None:
        rows = [["" if c is None else str(c) for c in row] for row in rows]
        if self.plain:
            if title:
                self.line(title)
            widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
            self.line("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip())
            for row in rows:
                self.line("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, title=title, title_justify="left")
        for row in rows:
            table.add_row(*row)
        Console(file=self.stream).print(table)

    def step(self, name: str, status: str, seconds: float | None = None, detail: str = "") -> None:
        timing = f" ({seconds:.1f}s)" if seconds is not None else ""
        text = f"{status:>6}  {name}{timing}{'  ' + detail if detail else ''}"
        if self.plain:
            self.progress(text)
            return
        from rich.console import Console

        colour = {"ok": "green", "FAIL": "red", "skip": "yellow", "...": "cyan"}.get(status, "white")
        Console(file=self.progress_stream, highlight=False).print(f"[{colour}]{status:>6}[/]  {name}{timing}{'  ' + detail if detail else ''}")
