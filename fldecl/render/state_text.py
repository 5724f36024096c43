"""``fldecl show`` and ``fldecl output``: what the stack owns, with ids whole, and each training's rounds."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Collection, Mapping
from typing import Any

from rich.console import Console
from rich.text import Text

from fldecl.core.contract import NAME_ATTRIBUTE, Observed
from fldecl.core.stack import Stack
from fldecl.kinds.training_run import RoundRecord, TrainingProgress, progress_of


def print_state(stack: Stack, observed: list[Observed], console: Console) -> None:
    console.print(f"Stack [bold]{stack.name}[/bold] on backend [bold]{stack.backend}[/bold], ownership tag {stack.owner_tag}")
    if not observed:
        console.print("The stack owns nothing yet. Run `fldecl apply`.")
        return
    for index, line in enumerate(resource_lines([_state_row(stack, obs) for obs in observed], console.width)):
        console.print(Text(line, style="bold" if index == 0 else ""))
    for obs in observed:
        progress = progress_of(obs)
        if progress and progress.rounds:
            print_rounds(obs.address, progress, console)


def resource_lines(rows: list[tuple[str, str, str, str]], width: int) -> list[str]:
    """The resources as padded columns; an id is never folded or cut, so one that does not fit beside the rest
    goes on a line of its own under its resource, and a long status wraps in its column."""
    header = ("resource", "id", "status", "created")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(4)]
    if sum(widths) + 6 <= width:
        return ["  ".join(cell.ljust(size) for cell, size in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    status_width = max(20, width - widths[0] - len("yyyy-mm-dd") - 4)
    lines = []
    for row in [header, *rows]:
        resource, resource_id, status, created = row
        created = created[:10]  # the day; `show --json` has the time
        wrapped = textwrap.wrap(status, status_width) or [""]
        lines.append(f"{resource.ljust(widths[0])}  {wrapped[0].ljust(status_width)}  {created}".rstrip())
        lines += [f"{'':{widths[0]}}  {more}" for more in wrapped[1:]]
        lines.append(f"  {resource_id}")
    return lines


def _state_row(stack: Stack, obs: Observed) -> tuple[str, str, str, str]:
    resource = obs.address
    backend_name = obs.attributes.get(NAME_ATTRIBUTE)
    if backend_name and backend_name != obs.name:
        resource += f" ({json.dumps(backend_name, ensure_ascii=False)})"
    if obs.address not in stack.declarations:
        resource += " (not declared)"
    status = obs.status or ""
    if obs.replace_reason:
        status += f" (needs replacement: {obs.replace_reason})"
    return resource, obs.id, status, (obs.created_at or "")[:16].replace("T", " ")


def print_outputs(values: Mapping[str, str], console: Console) -> None:
    """``fldecl output``: each owned resource's id, as ``KIND/NAME = "id"``, and the other values a party or a script
    needs (``KIND/NAME.kit = "..."``), in the order given."""
    for name, value in values.items():
        console.print(Text(f"{name} = {json.dumps(value)}"))


def print_rounds(address: str, progress: TrainingProgress, console: Console) -> None:
    """One row per round and party: its local training metrics, the fused model on its test data, megabytes sent (up)
    and received (down); one row per round for the fused model (``all``), with the round's seconds."""
    rounds = progress.rounds
    local_names = sorted({k for r in rounds for p in r.parties.values() for k in p.metrics if not k.startswith("fused_")})
    fused_names = sorted({k for r in rounds for k in r.fused})
    reported = any(p.bytes_sent is not None for r in rounds for p in r.parties.values())
    headers = ["round", "party", *[_title("local", n) for n in local_names], *[_title("fused", n) for n in fused_names]]
    headers += ["up (MB)", "down (MB)"] if reported else []
    headers.append("time (s)")
    rows: list[list[str]] = []
    for record in rounds:
        rows += _round_rows(record, local_names, fused_names, reported)
    console.print()
    console.print(Text(f"{address}: rounds", style="bold"))
    lines = table_lines(headers, rows, console.width, left={1})
    for index, line in enumerate(lines):
        console.print(Text(line, style="bold" if index < len(lines) - len(rows) else ""))
    if not reported:
        console.print(Text("The backend does not report the bytes each party sends and receives.", style="dim"))
    if progress.plot:
        console.print(f"Metrics plot: {progress.plot}")


def table_lines(headers: list[str], rows: list[list[str]], width: int, left: Collection[int] = ()) -> list[str]:
    """Padded columns within ``width`` where they can be: each as wide as its values (never cut) and its header's longest
    word, widened to the whole header while there is room; a header that does not fit wraps between its words."""
    sizes = [max(len(word) for word in [*header.split(), *(row[i] for row in rows)]) for i, header in enumerate(headers)]
    for i, header in enumerate(headers):
        if sum(sizes) + 2 * (len(sizes) - 1) + len(header) - sizes[i] <= width:
            sizes[i] = max(sizes[i], len(header))
    wrapped = [textwrap.wrap(header, size) for header, size in zip(headers, sizes, strict=True)]
    depth = max(len(lines) for lines in wrapped)
    header_rows = [[([""] * (depth - len(lines)) + lines)[line] for lines in wrapped] for line in range(depth)]

    def line(cells: list[str]) -> str:
        padded = (cell.ljust(size) if i in left else cell.rjust(size) for i, (cell, size) in enumerate(zip(cells, sizes, strict=True)))
        return "  ".join(padded).rstrip()

    return [*map(line, header_rows), "─" * (sum(sizes) + 2 * (len(sizes) - 1)), *map(line, rows)]


def _title(where: str, metric: str) -> str:
    """``local accuracy``, ``fused train loss``: words, so a narrow column wraps its header instead of cutting it."""
    return f"{where} {metric.removeprefix(where + '_').replace('_', ' ')}"


def _round_rows(record: RoundRecord, local_names: list[str], fused_names: list[str], reported: bool) -> list[list[str]]:
    rows = []
    for party, values in sorted(record.parties.items()):
        cells = [_number(values.metrics.get(n)) for n in local_names] + [_number(values.metrics.get(f"fused_{n}")) for n in fused_names]
        cells += [_megabytes(values.bytes_sent), _megabytes(values.bytes_received)] if reported else []
        rows.append([str(record.round), party if values.contributed else f"{party} (no update)", *cells, ""])
    seconds = f"{record.seconds:.1f}" if record.seconds is not None else ""
    rows.append([str(record.round), "all", *[""] * len(local_names), *[_number(record.fused.get(n)) for n in fused_names],
                 *(["", ""] if reported else []), seconds])
    return rows


def _megabytes(count: int | None) -> str:
    return f"{count / 1e6:.2f}" if count is not None else ""


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""
