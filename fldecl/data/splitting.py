"""The seed's party-data step: one reproducible npz per party, drawn without overlap."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fldecl.atomic_write import write_atomically
from fldecl.data.errors import DataError
from fldecl.data.sources import ARRAY_NAMES, load_source
from fldecl.data.spec import output_paths, with_defaults
from fldecl.models.archive import deterministic_zip

# Continuous targets are stratified over this many quantile bins.
_REGRESSION_STRATA = 10


def split(spec: dict[str, Any], stack_dir: Path) -> list[Path]:
    """Write each party's npz (x_train, y_train, x_test, y_test) and return their paths.

    The same spec and source always give byte-identical files. Independent random streams for
    the source's train/test split, training points and test points keep one choice (e.g.
    sampling) from reshuffling the others.
    """
    spec = with_defaults(spec)
    parties = spec["parties"]
    streams = np.random.SeedSequence(spec["seed"]).spawn(3)
    source_rng, train_rng, test_rng = (np.random.default_rng(stream) for stream in streams)
    dataset = load_source(spec["source"], stack_dir, source_rng)
    train_parts = _draw_training_points(dataset.y_train, parties, spec["points_per_party"], spec["sampling"], train_rng)
    test_points = spec.get("test_points_per_party") or len(dataset.y_test) // parties
    if test_points < 1:
        raise DataError(f"the source's {len(dataset.y_test)} test points cannot be shared by {parties} parties")
    test_parts = _draw_uniform(len(dataset.y_test), parties, test_points, test_rng, "test")
    paths = output_paths(spec, stack_dir)
    for path, train, test in zip(paths, train_parts, test_parts, strict=False):
        arrays = (dataset.x_train[train], dataset.y_train[train], dataset.x_test[test], dataset.y_test[test])
        write_atomically(path,  # owner-only: party data is private to its party
                          _npz_bytes(dict(zip(ARRAY_NAMES, arrays, strict=False))))
    return paths


def _draw_training_points(
    labels: NDArray[Any], parties: int, per_party: int, sampling: str, rng: np.random.Generator
) -> list[NDArray[Any]]:
    if sampling == "uniform":
        return _draw_uniform(len(labels), parties, per_party, rng, "training")
    return _draw_stratified(_strata(labels), parties, per_party, rng)


def _draw_uniform(
    available: int, parties: int, per_party: int, rng: np.random.Generator, part: str
) -> list[NDArray[Any]]:
    """Disjoint random index sets of ``per_party`` points each."""
    if parties * per_party > available:
        raise DataError(
            f"{parties} parties x {per_party} {part} points need {parties * per_party} points, "
            f"the source has {available}"
        )
    return np.split(rng.permutation(available)[: parties * per_party], parties)


def _draw_stratified(
    strata: NDArray[Any], parties: int, per_party: int, rng: np.random.Generator
) -> list[NDArray[Any]]:
    """Disjoint index sets in which every stratum (label) has the same count, within one.

    Each party gets ``per_party // k`` points of each of the k strata; the remaining points go
    one per stratum, rotating through a shuffled stratum order so no party or label is favoured.
    """
    values = np.unique(strata)
    pools = [rng.permutation(np.flatnonzero(strata == value)) for value in values]
    base, extra = divmod(per_party, len(values))
    order = rng.permutation(len(values))
    counts = np.full((parties, len(values)), base)
    for party in range(parties):
        counts[party, order[(party * extra + np.arange(extra)) % len(values)]] += 1
    for value, pool, needed in zip(values, pools, counts.sum(axis=0), strict=False):
        if needed > len(pool):
            raise DataError(
                f"stratified sampling needs {needed} training points labelled {value.item()!r}, "
                f"the source has {len(pool)}; lower points_per_party or parties, or use sampling: uniform"
            )
    starts = np.vstack([np.zeros(len(values), dtype=int), np.cumsum(counts, axis=0)])
    return [
        rng.permutation(
            np.concatenate([pool[starts[party, stratum]:starts[party + 1, stratum]] for stratum, pool in enumerate(pools)])
        )
        for party in range(parties)
    ]


def _strata(labels: NDArray[Any]) -> NDArray[Any]:
    """Class labels as they are; continuous targets as quantile bins, so each party spans the range."""
    is_continuous = labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0)
    if not is_continuous:
        return labels
    ranks = np.argsort(np.argsort(labels, kind="stable"), kind="stable")
    return ranks * _REGRESSION_STRATA // len(labels)


def _npz_bytes(arrays: dict[str, NDArray[Any]]) -> bytes:
    """An npz (what np.savez writes) without np.savez's timestamps, so equal data gives equal bytes."""
    members = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        members[f"{name}.npy"] = buffer.getvalue()
    return deterministic_zip(members)
