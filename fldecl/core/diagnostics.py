"""Diagnostics: every problem found in a stack, with file, line, column and field path.

Validation collects all of them before reporting, so a user fixes every mistake in one pass.
The JSON form follows ``terraform validate -json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Location:
    file: Path
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return str(self.file)
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    summary: str
    location: Location | None = None
    field: str = ""
    severity: str = "error"
    detail: str = ""

    def render(self, base: Path | None = None) -> str:
        where = ""
        if self.location:
            loc = self.location
            shown = _relative(loc.file, base)
            where = f"{shown}:{loc.line}:{loc.column}: " if loc.line else f"{shown}: "
        text = f"{where}{self.severity}: {self.summary}"
        if self.field:
            text += f" [{self.field}]"
        if self.detail:
            text += f"\n    {self.detail}"
        return text

    def to_json(self, base: Path | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {"severity": self.severity, "summary": self.summary, "detail": self.detail}
        if self.field:
            item["field"] = self.field
        if self.location:
            loc = self.location
            item["range"] = {
                "filename": str(_relative(loc.file, base)),
                "start": {"line": loc.line, "column": loc.column},
            }
        return item


@dataclass
class Diagnostics:
    """An ordered collection; errors make a stack invalid, warnings do not."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, summary: str, location: Location | None = None, field: str = "", detail: str = "") -> None:
        self.items.append(Diagnostic(summary, location, field, "error", detail))

    def warning(self, summary: str, location: Location | None = None, field: str = "", detail: str = "") -> None:
        self.items.append(Diagnostic(summary, location, field, "warning", detail))

    def extend(self, other: Diagnostics) -> None:
        self.items.extend(other.items)

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

    def to_json(self, base: Path | None = None) -> dict[str, Any]:
        return {
            "format_version": "1.0",
            "valid": not self.errors,
            "error_count": len(self.errors),
            "warning_count": len(self.warnings),
            "diagnostics": [d.to_json(base) for d in self.sorted()],
        }


def _relative(path: Path, base: Path | None) -> Path:
    if base is None:
        return path
    try:
        return path.resolve().relative_to(base.resolve())
    except ValueError:
        return path
