"""Model artifacts in WML's zip layout: hash, build, load, and parameter access.

Importing this package is cheap: torch and scikit-learn are imported only by the functions that
build or load a model of that framework.
"""

from fldecl.models.artifacts import build_zip, load_model
from fldecl.models.errors import ModelError, ModelTrustError
from fldecl.models.parameters import get_parameters, set_parameters
from fldecl.models.spec import content_hash, framework_of, model_file_of

__all__ = [
    "ModelError",
    "ModelTrustError",
    "build_zip",
    "content_hash",
    "framework_of",
    "get_parameters",
    "load_model",
    "model_file_of",
    "set_parameters",
]
