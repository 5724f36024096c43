"""Where a DataSplit's points come from: a user's npz or data that needs no download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fldecl.data.errors import DataError

ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

# Built-in datasets come without a train/test split; this share of points is held out for testing.
_TEST_FRACTION = 0.2
# The synthetic data is one fixed dataset: the split's seed only decides who gets which points.
_SYNTHETIC_SEED = 0
_SYNTHETIC_POINTS = 2000
_SYNTHETIC_FEATURES = 10
_SYNTHETIC_NOISE = 0.1


@dataclass(frozen=True)
class Dataset:
    x_train: NDArray[Any]
    y_train: NDArray[Any]
    x_test: NDArray[Any]
    y_test: NDArray[Any]


def load_source(source: dict[str, Any], stack_dir: Path, rng: np.random.Generator) -> Dataset:
    """The source's train and test sets; built-in datasets are split into both with ``rng``."""
    if "npz_file" in source:
        return _load_npz(Path(stack_dir) / source["npz_file"])
    if source.get("dataset") not in _BUILT_IN:
        raise DataError(f"unknown dataset {source.get('dataset')!r} (known: {', '.join(_BUILT_IN)})")
    features, labels = _BUILT_IN[source["dataset"]]()
    return _train_test_split(features, labels, rng)


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in ARRAY_NAMES if name not in archive.files]
            if missing:
                raise DataError(
                    f"source {path} lacks the arrays {', '.join(missing)} (it has: {', '.join(archive.files)})"
                )
            arrays = {name: archive[name] for name in ARRAY_NAMES}
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read source npz {path}: {error}") from error
    for part in ("train", "test"):
        if len(arrays[f"x_{part}"]) != len(arrays[f"y_{part}"]):
            raise DataError(f"source {path}: x_{part} and y_{part} have different numbers of points")
    return Dataset(**arrays)


def _digits() -> tuple[NDArray[Any], NDArray[Any]]:
    """scikit-learn's 8x8 digits as 64 features scaled to 0..1."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]  # no stubs

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def _digits_28x28() -> tuple[NDArray[Any], NDArray[Any]]:
    """Digits shaped like MNIST (28x28, 0..1) so the seed's 784-input model fits.

    Each pixel becomes a 3x3 block (24x24), then a 2-pixel border pads it to 28x28, the way MNIST
    centres its digits in a blank margin.
    """
    features, labels = _digits()
    images = np.kron(features.reshape(-1, 8, 8), np.ones((1, 3, 3), dtype=np.float32))
    return np.pad(images, ((0, 0), (2, 2), (2, 2))), labels


def _synthetic_regression() -> tuple[NDArray[Any], NDArray[Any]]:
    """Linear data with Gaussian noise: y = x . w + b + noise, float targets."""
    rng = np.random.default_rng(_SYNTHETIC_SEED)
    features = rng.standard_normal((_SYNTHETIC_POINTS, _SYNTHETIC_FEATURES))
    weights = rng.standard_normal(_SYNTHETIC_FEATURES)
    targets = features @ weights + rng.standard_normal() + _SYNTHETIC_NOISE * rng.standard_normal(_SYNTHETIC_POINTS)
    return features.astype(np.float32), targets.astype(np.float32)


_BUILT_IN = {
    "sklearn_digits": _digits,
    "sklearn_digits_28x28": _digits_28x28,
    "synthetic_regression": _synthetic_regression,
}


def _train_test_split(features: NDArray[Any], labels: NDArray[Any], rng: np.random.Generator) -> Dataset:
    order = rng.permutation(len(labels))
    test, train = np.split(order, [int(len(labels) * _TEST_FRACTION)])
    return Dataset(features[train], labels[train], features[test], labels[test])
