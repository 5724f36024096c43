"""One party's digits for the Keras model: images of 28x28x1, as IBM's ``MnistTFDataHandler`` gives them.

Written against IBM FL's ``DataHandler`` so the same file runs on WML and on fldecl's local backend.
"""

import numpy as np
from ibmfl.data.data_handler import DataHandler


class MnistTFDataHandler(DataHandler):
    def __init__(self, data_config=None):
        super().__init__()
        self.file_name = (data_config or {})["npz_file"]

    def get_data(self):
        with np.load(self.file_name) as data:
            x_train, y_train = data["x_train"], data["y_train"]
            x_test, y_test = data["x_test"], data["y_test"]
        return (self._images(x_train), y_train.astype("int64")), (self._images(x_test), y_test.astype("int64"))

    @staticmethod
    def _images(x):
        return x.reshape(x.shape[0], 28, 28, 1).astype("float32")
