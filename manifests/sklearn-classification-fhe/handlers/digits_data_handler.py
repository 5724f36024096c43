"""One party's digits as 64 features, for scikit-learn.

Written against IBM FL's ``DataHandler`` so the same file runs on WML and on fldecl's local backend.
scikit-learn 1.3 trains an estimator whose parameters are float64 only on float64 points.
"""

import numpy as np
from ibmfl.data.data_handler import DataHandler


class DigitsDataHandler(DataHandler):
    def __init__(self, data_config=None):
        super().__init__()
        self.file_name = (data_config or {})["npz_file"]

    def get_data(self):
        with np.load(self.file_name) as data:
            return ((data["x_train"].astype("float64"), data["y_train"].astype("int64")),
                    (data["x_test"].astype("float64"), data["y_test"].astype("int64")))
