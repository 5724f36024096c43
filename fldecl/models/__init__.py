"""Model artifacts in WML's zip layout: hash, build, load, and parameter access.

Names are imported on first use (:mod:`fldecl.lazy`), and torch and scikit-learn only by the
functions that build or load a model of that framework: a plan hashes a model's declaration
without either.
"""

from __future__ import annotations

from fldecl.lazy import lazy_exports

_EXPORTS = {
    "holds_model_file": "fldecl.models.archive",
    "zip_member_problem": "fldecl.models.archive",
    "zip_members": "fldecl.models.archive",
    "build_zip": "fldecl.models.artifacts",
    "load_model": "fldecl.models.artifacts",
    "stored_content_hash": "fldecl.models.artifacts",
    "ModelError": "fldecl.models.errors",
    "ModelTrustError": "fldecl.models.errors",
    "get_parameters": "fldecl.models.parameters",
    "set_parameters": "fldecl.models.parameters",
    "LOCAL_FRAMEWORKS": "fldecl.models.spec",
    "content_hash": "fldecl.models.spec",
    "default_model_file": "fldecl.models.spec",
    "framework_of": "fldecl.models.spec",
    "local_training_problem": "fldecl.models.spec",
    "model_file_of": "fldecl.models.spec",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
