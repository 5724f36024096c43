"""Diagnostics: every problem found in a stack, with file, line, column and field path.

Validation collects all of them before reporting, so a user fixes every mistake in one pass, and
each cause once: a variable that is not set is one error listing where it is used, and checks
across the stack wait for files that failed to parse. Files are shown relative to the current
directory, as Terraform shows them, by every command. The JSON form follows ``terraform validate -json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Location:
    file: Path
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        shown = shown_path(self.file)
        return f"{shown}:{self.line}:{self.column}" if self.line else shown


def shown_path(path: os.PathLike[str] | str) -> str:
    """A file as messages show it: relative to the current directory."""
    return os.path.relpath(path)


@dataclass(frozen=True)
class Diagnostic:
    summary: str
    location: Location | None = None
    field: str = ""
    severity: str = "error"
    detail: str = ""
    #: Other places with the same cause (another use of an unset variable), each with its field.
    also: tuple[tuple[Location, str], ...] = ()

    @property
    def full_detail(self) -> str:
        places = ", ".join(f"{where} [{name}]" for where, name in self.also)
        return "; ".join(part for part in (self.detail, f"also used at {places}" if places else "") if part)

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity}: {self.summary}"
        if self.field:
            text += f" [{self.field}]"
        if self.full_detail:
            text += f"\n    {self.full_detail}"
        return text

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"severity": self.severity, "summary": self.summary, "detail": self.full_detail}
        if self.field:
            item["field"] = self.field
        if self.location:
            loc = self.location
            item["range"] = {
                "filename": shown_path(loc.file),
                "start": {"line": loc.line, "column": loc.column},
            }
        return item


@dataclass
class Diagnostics:
    """An ordered collection; errors make a stack invalid, warnings do not."""

    items: list[Diagnostic] = field(default_factory=list)
    #: Files whose documents could not all be parsed: what they declare is unknown.
    unparsed: set[Path] = field(default_factory=set)
    _causes: dict[str, int] = field(default_factory=dict, repr=False)

    def error(self, summary: str, location: Location | None = None, field: str = "", detail: str = "") -> None:
        self.items.append(Diagnostic(summary, location, field, "error", detail))

    def warning(self, summary: str, location: Location | None = None, field: str = "", detail: str = "") -> None:
        self.items.append(Diagnostic(summary, location, field, "warning", detail))

    def error_once(self, cause: str, summary: str, location: Location, field: str, detail: str = "") -> None:
        """An error reported once per ``cause``; a later occurrence is listed in the first one's ``also``."""
        if cause in self._causes:
            first = self.items[self._causes[cause]]
            self.items[self._causes[cause]] = replace(first, also=(*first.also, (location, field)))
        else:
            self._causes[cause] = len(self.items)
            self.error(summary, location, field, detail)

    def extend(self, other: Diagnostics) -> None:
        self.items.extend(other.items)
        self.unparsed |= other.unparsed

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic) -> tuple[str, int, int]:
            loc = d.location
            return (str(loc.file), loc.line, loc.column) if loc else ("", 0, 0)

        return sorted(self.items, key=key)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1.0",
            "valid": not self.errors,
            "error_count": len(self.errors),
            "warning_count": len(self.warnings),
            "diagnostics": [d.to_json() for d in self.sorted()],
        }

