"""``${NAME}`` references to environment variables: the one syntax manifests use, and where it resolves.

``${NAME}`` and ``${NAME:-default}`` are replaced by the variable's value when the manifests are
read; ``$${`` writes a literal ``${``. A *sensitive* variable (WML's credentials, and any the
Stack lists) is never replaced there: its reference travels as written, in what fldecl stores,
sends and prints (shown as ``(sensitive value)``), and is resolved only where its value is used
— in a party's data handler settings, on the party's machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fldecl.errors import InputError

REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CREDENTIAL_VARIABLES = ("WML_APIKEY", "WML_PASSWORD", "WML_TOKEN")
SENSITIVE_VALUE = "(sensitive value)"


class UnsetVariable(InputError):
    """A reference to a variable that is not set and has no default."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)")
        self.name = name


def substitute(text: str, env: Mapping[str, str], keep: Iterable[str] = ()) -> str:
    """``text`` with its references replaced from ``env``.

    A text that refers to a variable of ``keep`` keeps those references, and its ``$${`` escapes,
    as written: it is resolved again where it is used.
    """
    kept = frozenset(keep) if references_any(text, keep) else frozenset()

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "$${" if kept else "${"
        name, default = match.group(1), match.group(2)
        if name in kept:
            return match.group(0)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise UnsetVariable(name)

    return REFERENCE.sub(replace, text)


def references_any(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` refers to one of ``names``."""
    wanted = frozenset(names)
    return any(match.group(1) in wanted for match in REFERENCE.finditer(text) if match.group(1))


def masked(value: Any, names: Iterable[str]) -> Any:
    """``value`` for display: every string that refers to a sensitive variable becomes ``(sensitive value)``."""
    sensitive = frozenset(names)
    if not sensitive:
        return value
    return _walk(value, lambda text: SENSITIVE_VALUE if references_any(text, sensitive) else text)


def resolved(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` with every reference left in it resolved from ``env`` (at the party that uses it)."""
    return _walk(value, lambda text: substitute(text, env))


def _walk(value: Any, on_text: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return on_text(value)
    if isinstance(value, dict):
        return {key: _walk(item, on_text) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, on_text) for item in value]
    return value
