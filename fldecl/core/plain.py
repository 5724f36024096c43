"""Plain data: the dicts, lists and scalars that manifests and JSON records hold."""

from __future__ import annotations

from enum import Enum
from typing import Any


class ValueEnum(str, Enum):
    """An enum whose members equal, and print as, their values: what plans, records and JSON documents write
    (:class:`enum.StrEnum` from Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


def plain_copy(value: Any) -> Any:
    """A deep copy of plain data (tuples become lists, as in JSON); a plan copies every spec, and this is
    several times faster than :func:`copy.deepcopy`, which must handle any object."""
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_copy(item) for item in value]
    return value
