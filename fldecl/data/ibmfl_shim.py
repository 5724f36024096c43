"""A stand-in for IBM FL's ``ibmfl.data.data_handler`` where IBM FL is not usable.

Data handlers written for WML subclass ``ibmfl.data.data_handler.DataHandler``. Without IBM FL
(or with the stub ``ibm-watson-machine-learning`` installs, whose import raises), fldecl registers
this module under that name so the same handler file runs locally. It offers the part of IBM FL's
base class that handlers rely on.
"""

from __future__ import annotations

import abc
from typing import Any


class DataHandler(abc.ABC):
    """Base class of a party's data loader: subclasses implement :meth:`get_data`."""

    def __init__(self, **kwargs: Any) -> None:
        self.x_train = None
        self.y_train = None
        self.x_test = None
        self.y_test = None

    @abc.abstractmethod
    def get_data(self, **kwargs: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        """Return ``((x_train, y_train), (x_test, y_test))``."""

