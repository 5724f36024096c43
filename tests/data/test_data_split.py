"""DataSplit: reproducible, disjoint, balanced party files from shipped or generated data."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fldecl.data import DataError, output_paths, outputs_digest, split, split_fingerprint

DIGITS_SPEC = {
    "source": {"dataset": "sklearn_digits_28x28"},
    "parties": 3,
    "points_per_party": 200,
    "sampling": "stratified",
    "seed": 42,
    "output": "data/data_party_{index}.npz",
}


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x}


def write_indexed_source(path: Path, train_points: int = 1000, test_points: int = 90) -> None:
    """An npz whose x is the point's own index, so overlaps are exact; ten labels."""
    np.savez(
        path,
        x_train=np.arange(train_points, dtype=np.float32)[:, None],
        y_train=np.arange(train_points) % 10,
        x_test=np.arange(test_points, dtype=np.float32)[:, None],
        y_test=np.arange(test_points) % 10,
    )


def test_digits_28x28_gives_three_disjoint_balanced_party_files(tmp_path):
    paths = split(DIGITS_SPEC, tmp_path)
    assert paths == [tmp_path / "data" / f"data_party_{index}.npz" for index in (1, 2, 3)]
    parties = [load(path) for path in paths]
    for party in parties:
        assert party["x_train"].shape == (200, 28, 28) and party["x_train"].dtype == np.float32
        assert party["x_train"].min() >= 0.0 and party["x_train"].max() <= 1.0
        assert party["y_train"].dtype == np.int64
        assert Counter(party["y_train"].tolist()) == dict.fromkeys(range(10), 20)
        assert party["x_test"].shape == (359 // 3, 28, 28)
    for part in ("x_train", "x_test"):
        seen = [rows(party[part]) for party in parties]
        assert sum(map(len, seen)) == len(set().union(*seen))


def test_digits_28x28_keeps_a_blank_two_pixel_border(tmp_path):
    image = load(split(DIGITS_SPEC, tmp_path)[0])["x_train"][0]
    assert not image[:2].any() and not image[-2:].any() and not image[:, :2].any() and not image[:, -2:].any()


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    first = [path.read_bytes() for path in split(DIGITS_SPEC, tmp_path / "a")]
    again = [path.read_bytes() for path in split(DIGITS_SPEC, tmp_path / "b")]
    reseeded = [path.read_bytes() for path in split({**DIGITS_SPEC, "seed": 7}, tmp_path / "c")]
    assert first == again
    assert all(mine != theirs for mine, theirs in zip(first, reseeded, strict=False))


def test_npz_source_with_uneven_strata_and_explicit_test_points(tmp_path):
    write_indexed_source(tmp_path / "source.npz")
    spec = {
        "source": {"npz_file": "source.npz"},
        "parties": 4,
        "points_per_party": 25,
        "test_points_per_party": 20,
        "output": "out/p{index}.npz",
    }
    parties = [load(path) for path in split(spec, tmp_path)]
    train_ids = [set(party["x_train"][:, 0].tolist()) for party in parties]
    test_ids = [set(party["x_test"][:, 0].tolist()) for party in parties]
    assert [len(ids) for ids in train_ids] == [25] * 4 and len(set().union(*train_ids)) == 100
    assert [len(ids) for ids in test_ids] == [20] * 4 and len(set().union(*test_ids)) == 80
    for party in parties:
        assert set(Counter(party["y_train"].tolist()).values()) == {2, 3}
        assert np.array_equal(party["y_train"], party["x_train"][:, 0].astype(int) % 10)
    label_totals = Counter(label for party in parties for label in party["y_train"].tolist())
    assert max(label_totals.values()) - min(label_totals.values()) <= 1


def test_uniform_sampling_draws_disjoint_points(tmp_path):
    write_indexed_source(tmp_path / "source.npz")
    spec = {
        "source": {"npz_file": "source.npz"},
        "parties": 3,
        "points_per_party": 300,
        "sampling": "uniform",
        "output": "p{index}.npz",
    }
    train_ids = [set(load(path)["x_train"][:, 0].tolist()) for path in split(spec, tmp_path)]
    assert len(set().union(*train_ids)) == 900


def test_sklearn_digits_has_64_features_scaled_to_one(tmp_path):
    spec = {**DIGITS_SPEC, "source": {"dataset": "sklearn_digits"}, "parties": 2}
    party = load(split(spec, tmp_path)[0])
    assert party["x_train"].shape == (200, 64) and party["x_train"].max() == 1.0


@pytest.mark.parametrize("sampling", ["stratified", "uniform"])
def test_synthetic_regression_has_float_targets(tmp_path, sampling):
    spec = {"source": {"dataset": "synthetic_regression"}, "parties": 2, "sampling": sampling, "output": "r{index}.npz"}
    parties = [load(path) for path in split(spec, tmp_path)]
    for party in parties:
        assert party["x_train"].shape == (200, 10) and party["y_train"].dtype.kind == "f"
    assert not rows(parties[0]["x_train"]) & rows(parties[1]["x_train"])


def test_source_lacking_arrays_is_explained(tmp_path):
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((5, 2)), y_train=np.zeros(5))
    spec = {"source": {"npz_file": "partial.npz"}, "parties": 1, "output": "p{index}.npz"}
    with pytest.raises(DataError, match="lacks the arrays x_test, y_test"):
        split(spec, tmp_path)


def test_too_few_points_is_explained(tmp_path):
    write_indexed_source(tmp_path / "source.npz", train_points=100)
    spec = {"source": {"npz_file": "source.npz"}, "parties": 3, "points_per_party": 50, "output": "p{index}.npz"}
    with pytest.raises(DataError, match="needs 15 training points labelled 0, the source has 10"):
        split(spec, tmp_path)
    with pytest.raises(DataError, match="need 150 points, the source has 100"):
        split({**spec, "sampling": "uniform"}, tmp_path)
    with pytest.raises(DataError, match="test points cannot be shared by 95 parties"):
        split({**spec, "parties": 95, "points_per_party": 1, "sampling": "uniform"}, tmp_path)
    assert not list(tmp_path.glob("p*.npz"))


def test_missing_source_file_is_explained(tmp_path):
    spec = {"source": {"npz_file": "absent.npz"}, "parties": 1, "output": "p{index}.npz"}
    with pytest.raises(DataError, match="absent.npz"):
        split(spec, tmp_path)
    with pytest.raises(DataError, match="absent.npz"):
        split_fingerprint(spec, tmp_path)


def test_fingerprint_tracks_spec_defaults_and_source_content(tmp_path):
    write_indexed_source(tmp_path / "source.npz")
    spec = {"source": {"npz_file": "source.npz"}, "parties": 2, "output": "p{index}.npz"}
    reference = split_fingerprint(spec, tmp_path)
    assert reference.startswith("sha256:")
    assert split_fingerprint({**spec, "seed": 0, "points_per_party": 200, "sampling": "stratified"}, tmp_path) == reference
    assert split_fingerprint({**spec, "seed": 1}, tmp_path) != reference
    write_indexed_source(tmp_path / "source.npz", test_points=91)
    assert split_fingerprint(spec, tmp_path) != reference


def test_outputs_digest_observes_edits_and_deletions(tmp_path):
    paths = split({**DIGITS_SPEC, "parties": 2}, tmp_path)
    assert paths == output_paths({**DIGITS_SPEC, "parties": 2}, tmp_path)
    written = outputs_digest(paths)
    assert outputs_digest(paths) == written
    paths[1].write_bytes(paths[1].read_bytes() + b"\0")
    edited = outputs_digest(paths)
    paths[1].unlink()
    assert len({written, edited, outputs_digest(paths)}) == 3


def test_importing_fldecl_data_imports_no_ml_framework():
    script = "import sys, fldecl.data; print(sorted(name for name in ('torch', 'sklearn') if name in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
