"""One party's points of the generated linear data, for scikit-learn.

Written against IBM FL's ``DataHandler`` so the same file runs on WML and on fldecl's local backend.
"""

import numpy as np
from ibmfl.data.data_handler import DataHandler


class LinearDataHandler(DataHandler):
    def __init__(self, data_config=None):
        super().__init__()
        self.file_name = (data_config or {})["npz_file"]

    def get_data(self):
        with np.load(self.file_name) as data:
            return ((data["x_train"].astype("float64"), data["y_train"].astype("float64")),
                    (data["x_test"].astype("float64"), data["y_test"].astype("float64")))
