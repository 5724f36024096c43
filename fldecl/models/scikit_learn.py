"""scikit-learn linear models (SGDClassifier, SGDRegressor) as FL initial models.

Importing this module imports scikit-learn; the package imports it only inside functions that
need it.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import SGDClassifier, SGDRegressor  # type: ignore[import-untyped]  # no stubs

from fldecl.models.errors import ModelError
from fldecl.models.parameters import check_shapes

_ESTIMATORS = {"SGDClassifier": SGDClassifier, "SGDRegressor": SGDRegressor}

# Plain pickle rather than joblib: joblib.load reads plain pickles too, but pickle.load cannot
# read joblib's array wrappers.
_PICKLE_PROTOCOL = 4


def build_estimator(architecture: dict[str, Any]) -> SGDClassifier | SGDRegressor:
    """An estimator whose coef_ and intercept_ exist, are zero and have the final shapes.

    Fusion averages parameters from the first round on, so they must exist before any party
    trains. One partial_fit on synthetic zero points allocates them (and the internal state a
    later partial_fit needs); zeroing then gives the usual neutral start of a linear model.
    """
    name = architecture["estimator"]
    params = architecture["params"]
    if "random_state" in params:
        raise ModelError("set the architecture's seed instead of params.random_state")
    try:
        estimator = _ESTIMATORS[name](**params, random_state=architecture["seed"])
    except TypeError as error:
        raise ModelError(f"{name} params: {error}") from error
    features = np.zeros((1, architecture["n_features"]))
    if name == "SGDClassifier":
        classes = architecture.get("classes")
        if not classes or len(classes) < 2:
            raise ModelError("SGDClassifier needs classes: the list of at least two labels")
        labels = np.asarray(classes)
        estimator.partial_fit(np.repeat(features, len(labels), axis=0), labels, classes=labels)
    else:
        if "classes" in architecture:
            raise ModelError("classes applies only to SGDClassifier")
        estimator.partial_fit(features, np.zeros(1))
    set_parameters(estimator, [np.zeros_like(array) for array in get_parameters(estimator)])
    return estimator


def serialize(estimator: SGDClassifier | SGDRegressor) -> bytes:
    return pickle.dumps(estimator, protocol=_PICKLE_PROTOCOL)


def get_parameters(estimator: Any) -> list[NDArray[Any]]:
    return [np.array(estimator.coef_, copy=True), np.array(estimator.intercept_, copy=True)]


def set_parameters(estimator: Any, arrays: list[NDArray[Any]]) -> None:
    arrays = [np.asarray(array, dtype=np.float64) for array in arrays]
    check_shapes([("coef_", estimator.coef_.shape), ("intercept_", estimator.intercept_.shape)], arrays)
    estimator.coef_, estimator.intercept_ = (array.copy() for array in arrays)
