"""Party data: the seed's DataSplit step and loading a party's data handler.

Names are imported on first use (:mod:`fldecl.lazy`): ``fldecl.data.spec``, which plans use,
loads no numpy, and only the digits datasets need scikit-learn, only while splitting.
"""

from __future__ import annotations

from fldecl.lazy import lazy_exports

_EXPORTS = {
    "DataError": "fldecl.data.errors",
    "get_data": "fldecl.data.handlers",
    "load_data_handler": "fldecl.data.handlers",
    "output_paths": "fldecl.data.spec",
    "outputs_digest": "fldecl.data.spec",
    "split_fingerprint": "fldecl.data.spec",
    "split": "fldecl.data.splitting",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
