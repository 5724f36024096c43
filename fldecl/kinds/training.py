"""``Training``: the aggregator. Immutable (any change replaces it); WML's rules on fusion and encryption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fldecl.core.diagnostics import Diagnostics
from fldecl.core.stack import Declaration, Kind, Stack
from fldecl.models import local_training_problem
from fldecl.vocabulary import CRYPTO_ITER_AVG, DEFAULT_CIPHER_SPEC, LOCAL_FUSION_TYPES

_NOT_ENCRYPTABLE = {
    "avg": "homomorphic encryption supports only simple averaging; weighted average (avg) cannot be encrypted",
    "xgb_classifier": "XGBoost fusion is not supported with homomorphic encryption",
    "xgb_regressor": "XGBoost fusion is not supported with homomorphic encryption",
}


def _cipher_spec_default(attributes: dict[str, Any], stack: Stack) -> None:
    """An encrypted training names its level, so a plan shows it and both backends store it."""
    if attributes["fusion_type"] == CRYPTO_ITER_AVG:
        attributes.setdefault("crypto", {}).setdefault("cipher_spec", DEFAULT_CIPHER_SPEC)


def _encryption_fits_fusion(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    fusion = decl.spec["fusion_type"]
    if "crypto" in decl.spec and fusion != CRYPTO_ITER_AVG:
        reason = _NOT_ENCRYPTABLE.get(fusion, f"crypto applies only to fusion_type {CRYPTO_ITER_AVG}")
        diagnostics.error(reason, decl.locate(("crypto",)), "spec.crypto", f"use fusion_type: {CRYPTO_ITER_AVG}, or remove crypto")


def _model_fits_fusion(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    fusion = decl.spec["fusion_type"]
    model = stack.declarations.get(f"Model/{decl.spec['model']}")
    if model is None:
        return
    framework = model.spec["type"].split("_", 1)[0]
    if fusion == CRYPTO_ITER_AVG and framework.startswith("xgboost"):
        diagnostics.error("XGBoost models cannot be trained with homomorphic encryption (crypto_iter_avg)",
                          decl.locate(("model",)), "spec.model", "WML supports HE for PyTorch, TensorFlow and scikit-learn")
    if fusion.startswith("xgb_") and not framework.startswith("xgboost"):
        diagnostics.error(f"fusion_type {fusion} needs an XGBoost model, but {model.address} is {model.spec['type']}",
                          decl.locate(("fusion_type",)), "spec.fusion_type")


def _parties_listed_once(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    seen: set[str] = set()
    for i, item in enumerate(decl.spec["remote_training"]["remote_training_systems"]):
        if item["name"] in seen:
            diagnostics.error(f"party {item['name']} is listed twice", decl.locate(("remote_training", "remote_training_systems", i)),
                              f"spec.remote_training.remote_training_systems[{i}]")
        seen.add(item["name"])


def _fusion_runs_locally(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    fusion = decl.spec["fusion_type"]
    if fusion not in LOCAL_FUSION_TYPES:
        diagnostics.error(f"fusion_type {fusion} runs only on the wml backend", decl.locate(("fusion_type",)), "spec.fusion_type",
                          f"the local backend fuses {' and '.join(LOCAL_FUSION_TYPES)}; or set backend: wml in the Stack")


def _model_trains_locally(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    model = stack.declarations.get(f"Model/{decl.spec['model']}")
    if model is None or not model.schema_valid:
        return
    problem = local_training_problem(model.spec["type"])
    if problem:
        diagnostics.error(f"{model.address} cannot be trained here: {problem}", decl.locate(("model",)), "spec.model",
                          f"{model.address} is a {model.spec['type']} model ({model.locate(('type',))}); "
                          "or set backend: wml in the Stack")


PARTY_KIND = "RemoteTrainingSystem"


def party_names(spec: Mapping[str, Any]) -> list[str]:
    """The names of the remote training systems a training's spec lists, in its order."""
    return [str(item["name"]) for item in spec["remote_training"]["remote_training_systems"]]


def _parties(spec: Mapping[str, Any]) -> list[str]:
    return [f"{PARTY_KIND}/{name}" for name in party_names(spec)]


TRAINING = Kind(
    "Training",
    rules=(_encryption_fits_fusion, _model_fits_fusion, _parties_listed_once),
    # fldecl's own round workflow runs on both: in its local runtime, and as an NVFlare app.
    backend_rules={"local": (_fusion_runs_locally, _model_trains_locally), "nvflare": (_fusion_runs_locally, _model_trains_locally)},
    derive=_cipher_spec_default,
    immutable=True,
    members=_parties,
)
