"""Talking to the user: rich tables and progress on a terminal, plain aligned lines otherwise."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from typing import Any, Iterable

MIN_COLUMN = 12  # a column is not narrowed below this (or its natural width)
GAP = 2


def line_width() -> int:
    """The terminal's width; when output is piped, COLUMNS or 100 (a log or a pager, read by a person)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return max(40, int(os.environ["COLUMNS"]))
    return max(40, shutil.get_terminal_size((100, 24)).columns)


def fit_widths(natural: list[int], total: int) -> list[int]:
    """Column widths that fit `total` with gaps: the widest column gives way first, none below MIN_COLUMN."""
    widths = list(natural)
    while sum(widths) + GAP * (len(widths) - 1) > total:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break  # too many columns to fit: lines stay long rather than unreadable
        widths[widest] -= 1
    return widths


def prose_groups(text: str) -> list[str]:
    """Paragraphs and list items of a text whose lines were broken by hand ("" for a blank line between)."""
    groups: list[str] = []
    open_group = False
    for line in text.splitlines():
        stripped = line.strip()
        item_ends = groups and groups[-1].startswith("- ") and not line[:1].isspace()  # an item goes on indented
        if not stripped:
            groups.append("")
            open_group = False
        elif open_group and not stripped.startswith("- ") and not item_ends:
            groups[-1] += " " + stripped
        else:
            groups.append(stripped)
            open_group = True
    return groups


def wrapped_row(cells: list[str], widths: list[int]) -> list[str]:
    """One table row as lines: each cell wrapped in its column (long words broken), the columns kept aligned."""
    columns = [textwrap.wrap(c, w, break_on_hyphens=False) or [""] for c, w in zip(cells, widths)]
    height = max(len(c) for c in columns)
    return [(" " * GAP).join((col[i] if i < len(col) else "").ljust(w) for col, w in zip(columns, widths)).rstrip()
            for i in range(height)]


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

    def paragraph(self, text: str) -> None:
        """Prose, wrapped to the line width: lines of one paragraph joined, a `- ` item kept as an item."""
        for group in prose_groups(text):
            item = group.startswith("- ")
            self.line(textwrap.fill(group, line_width(), subsequent_indent="  " if item else "", break_on_hyphens=False)
                      if group else "")

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
            widths = fit_widths([max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)], line_width())
            self.line("  ".join(h.upper()[:w].ljust(w) for h, w in zip(headers, widths)).rstrip())
            for row in rows:
                for line in wrapped_row(row, widths):
                    self.line(line)
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
