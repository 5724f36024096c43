"""Party data: the seed's DataSplit step and loading a party's data handler.

``import fldecl.data`` does not import scikit-learn or torch; only the digits datasets need
scikit-learn, and only while splitting.
"""

from fldecl.data.errors import DataError
from fldecl.data.handlers import get_data, load_data_handler
from fldecl.data.spec import output_paths, outputs_digest, split_fingerprint
from fldecl.data.split import split

__all__ = [
    "DataError",
    "get_data",
    "load_data_handler",
    "output_paths",
    "outputs_digest",
    "split",
    "split_fingerprint",
]
