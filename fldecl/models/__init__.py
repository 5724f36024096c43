"""Model artifacts in WML's zip layout: hash, build, load, and parameter access.

Importing this package is cheap: torch and scikit-learn are imported only by the functions that
build or load a model of that framework.
"""

from fldecl.models.archive import zip_member_problem, zip_members
from fldecl.models.artifacts import build_zip, load_model, stored_content_hash
from fldecl.models.errors import ModelError, ModelTrustError
from fldecl.models.parameters import get_parameters, set_parameters
from fldecl.models.spec import LOCAL_FRAMEWORKS, content_hash, default_model_file, framework_of, local_training_problem, model_file_of

__all__ = [
    "LOCAL_FRAMEWORKS",
    "ModelError",
    "ModelTrustError",
    "build_zip",
    "content_hash",
    "default_model_file",
    "framework_of",
    "get_parameters",
    "load_model",
    "local_training_problem",
    "model_file_of",
    "set_parameters",
    "stored_content_hash",
    "zip_member_problem",
    "zip_members",
]
