"""What a DataSplit spec means, cheaply: defaults, output paths, fingerprints, drift digests.

``plan`` calls these for every DataSplit, so this module imports neither numpy nor scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fldecl.data.errors import DataError

# Bump when split() would write different files for the same spec and source.
SPLIT_FORMAT_VERSION = 1

_DEFAULTS: dict[str, Any] = {"points_per_party": 200, "sampling": "stratified", "seed": 0}
_ABSENT_FILE = "absent"


def with_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the schema's defaults filled in (test_points_per_party stays optional)."""
    return {**_DEFAULTS, **spec}


def source_npz_path(spec: dict[str, Any], stack_dir: Path) -> Path | None:
    """The source npz, relative to the stack directory; None for a built-in dataset."""
    npz_file = spec["source"].get("npz_file")
    return None if npz_file is None else Path(stack_dir) / npz_file


def output_paths(spec: dict[str, Any], stack_dir: Path) -> list[Path]:
    """One npz path per party, from ``output`` with ``{index}`` = 1..parties."""
    pattern = spec["output"]
    try:
        return [Path(stack_dir) / pattern.format(index=index) for index in range(1, spec["parties"] + 1)]
    except (KeyError, IndexError, ValueError) as error:
        raise DataError(f"output {pattern!r} may use only the {{index}} placeholder: {error}") from error


def split_fingerprint(spec: dict[str, Any], stack_dir: Path) -> str:
    """``sha256:<hex>`` of everything the split's files depend on: spec, source file, format."""
    identity: dict[str, Any] = {"spec": with_defaults(spec), "split_format_version": SPLIT_FORMAT_VERSION}
    npz_path = source_npz_path(spec, stack_dir)
    if npz_path is not None:
        identity["source_sha256"] = _file_sha256(npz_path)
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def outputs_digest(paths: Iterable[Path]) -> str:
    """``sha256:<hex>`` over the files' contents in order, to observe drift.

    A missing file contributes a fixed marker instead of failing, so deleting an output shows up as
    a changed digest like any other edit.
    """
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        file_hash = _file_sha256(path) if path.exists() else _ABSENT_FILE
        digest.update(f"{file_hash}\n".encode())
    return "sha256:" + digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from error
    return digest.hexdigest()
