"""``fldecl party config``: one party's kit as JSON, as Python for IBM's party notebook, or as environment lines.

The Python form assigns exactly what the notebook's two calls take (``rts_id``, ``training_id``,
``party_metadata``); a reference to a sensitive variable becomes a read of the party's own
environment, so no secret is ever printed here.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from fldecl.kinds.training_run import PartyKit
from fldecl.variables import REFERENCE

FORMATS = ("json", "python", "env")
INDENT = "    "


def party_kit_text(kit: PartyKit, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(kit_document(kit), indent=2, ensure_ascii=False) + "\n"
    if fmt == "python":
        return _python(kit)
    return _environment(kit)


def kit_document(kit: PartyKit) -> dict[str, Any]:
    return {"party": kit.party, "training": kit.training, "remote_training_system_id": kit.remote_training_system_id,
            "aggregator_id": kit.aggregator_id, "party_metadata": kit.party_metadata}


def _python(kit: PartyKit) -> str:
    metadata = _literal(kit.party_metadata, 0)
    lines = [f"# Party {kit.party} of Training/{kit.training}, from `fldecl party config`.",
             "# IBM's party notebook runs, with its own signed-in wml_client:",
             "#   party = wml_client.remote_training_systems.create_party(rts_id, party_metadata)",
             "#   party.run(aggregator_id=training_id, asynchronous=False)"]
    if "os.environ" in metadata:
        lines.append("import os")
    lines += ["", f"rts_id = {kit.remote_training_system_id!r}", f"training_id = {kit.aggregator_id!r}", f"party_metadata = {metadata}"]
    return "\n".join(lines) + "\n"


def _environment(kit: PartyKit) -> str:
    values = {"RTS_ID": kit.remote_training_system_id, "TRAINING_ID": kit.aggregator_id,
              "PARTY_METADATA": json.dumps(kit.party_metadata, ensure_ascii=False)}
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())


def _literal(value: Any, depth: int) -> str:
    """``value`` as Python source, one key per line; strings that refer to variables read them from ``os.environ``."""
    inner, outer = INDENT * (depth + 1), INDENT * depth
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(f"{inner}{key!r}: {_literal(item, depth + 1)},\n" for key, item in value.items())
        return "{\n" + items + outer + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + "".join(f"{inner}{_literal(item, depth + 1)},\n" for item in value) + outer + "]"
    if isinstance(value, str):
        return _text(value)
    return repr(value)


def _text(text: str) -> str:
    """A string literal, or for one with ``${NAME}`` references the expression that resolves them at the party."""
    parts: list[str] = []
    position = 0
    for match in REFERENCE.finditer(text):
        literal = text[position:match.start()] + ("${" if match.group(0) == "$${" else "")
        if literal:
            parts.append(repr(literal))
        name, default = match.group(1), match.group(2)
        if name:
            parts.append(f"os.environ[{name!r}]" if default is None else f"os.environ.get({name!r}, {default!r})")
        position = match.end()
    if position < len(text) or not parts:
        parts.append(repr(text[position:]))
    return " + ".join(parts)
