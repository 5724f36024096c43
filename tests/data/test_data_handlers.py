"""Loading a party's data handler file, with or without a usable IBM FL."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from fldecl.data import DataError, get_data, load_data_handler, split

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_HANDLER = REPO_ROOT / "manifests" / "mnist-fhe" / "handlers" / "mnist_pytorch_data_handler.py"


@pytest.fixture(autouse=True)
def restore_ibmfl_modules():
    """Loading registers a stand-in for ibmfl; keep that from leaking into other tests."""
    saved = {name: module for name, module in sys.modules.items() if name == "ibmfl" or name.startswith("ibmfl.")}
    yield
    for name in [name for name in sys.modules if name == "ibmfl" or name.startswith("ibmfl.")]:
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.fixture
def stack(tmp_path) -> Path:
    """A stack directory with the example handler and one party's digits data."""
    shutil.copy(EXAMPLE_HANDLER, tmp_path / "handler.py")
    split({"source": {"dataset": "sklearn_digits_28x28"}, "parties": 3, "seed": 1, "output": "data/party_{index}.npz"}, tmp_path)
    return tmp_path


def write_handler(directory: Path, body: str) -> Path:
    path = directory / "custom_handler.py"
    path.write_text(textwrap.dedent(body))
    return path


def assert_mnist_shaped(handler) -> None:
    (x_train, y_train), (x_test, y_test) = get_data(handler)
    assert x_train.shape == (200, 1, 28, 28) and x_train.dtype == np.float32
    assert y_train.shape == (200,) and y_train.dtype == np.int64
    assert x_test.shape[1:] == (1, 28, 28) and y_test.dtype == np.int64


def test_example_handler_loads_with_relative_paths_resolved(stack, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    handler = load_data_handler(Path("handler.py"), "MnistPytorchDataHandler", {"npz_file": "data/party_1.npz"}, stack)
    assert handler.file_name == str(stack / "data" / "party_1.npz")
    assert_mnist_shaped(handler)


def test_example_handler_loads_when_ibmfl_is_not_installed(stack, monkeypatch):
    monkeypatch.setitem(sys.modules, "ibmfl", None)  # what a failed import leaves: ImportError on import
    handler = load_data_handler(Path("handler.py"), "MnistPytorchDataHandler", {"npz_file": "data/party_2.npz"}, stack)
    assert_mnist_shaped(handler)


def test_example_handler_loads_in_a_fresh_process_without_ibmfl(stack):
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.modules["ibmfl"] = None
        from fldecl.data import get_data, load_data_handler
        info = {{"npz_file": "data/party_3.npz"}}
        handler = load_data_handler(Path("handler.py"), "MnistPytorchDataHandler", info, Path({str(stack)!r}))
        (x, y), _ = get_data(handler)
        print(x.shape, x.dtype, y.dtype)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "(200, 1, 28, 28) float32 int64"


def test_a_working_ibmfl_is_preferred_to_the_stand_in(stack, monkeypatch):
    class IbmDataHandler:
        def __init__(self, **kwargs):
            pass

    real = types.ModuleType("ibmfl.data.data_handler")
    real.DataHandler = IbmDataHandler
    monkeypatch.setitem(sys.modules, "ibmfl.data.data_handler", real)
    handler = load_data_handler(Path("handler.py"), "MnistPytorchDataHandler", {"npz_file": "data/party_1.npz"}, stack)
    assert isinstance(handler, IbmDataHandler)


def test_handler_taking_its_config_positionally(tmp_path):
    write_handler(
        tmp_path,
        """
        import numpy as np

        class Positional:
            def __init__(self, config):
                self.config = config

            def get_data(self):
                x = np.zeros((self.config["points"], 2))
                return (x, np.zeros(len(x))), (x[:1], np.zeros(1))
        """,
    )
    handler = load_data_handler(Path("custom_handler.py"), "Positional", {"points": 4}, tmp_path)
    (x_train, _), (x_test, _) = get_data(handler)
    assert x_train.shape == (4, 2) and x_test.shape == (1, 2)


def test_missing_file_and_class_are_explained(stack):
    with pytest.raises(DataError, match="does not exist"):
        load_data_handler(Path("absent.py"), "MnistPytorchDataHandler", {}, stack)
    with pytest.raises(DataError, match=r"no class 'Mnist' \(it defines: MnistPytorchDataHandler\)"):
        load_data_handler(Path("handler.py"), "Mnist", {}, stack)


def test_handler_without_get_data_cannot_be_created(tmp_path):
    write_handler(
        tmp_path,
        """
        from ibmfl.data.data_handler import DataHandler

        class Incomplete(DataHandler):
            pass
        """,
    )
    with pytest.raises(DataError, match="creating Incomplete .* failed: TypeError"):
        load_data_handler(Path("custom_handler.py"), "Incomplete", {}, tmp_path)


def test_failing_import_is_explained(tmp_path):
    write_handler(tmp_path, "import no_such_module_anywhere\n")
    with pytest.raises(DataError, match="importing data handler file .* failed: ModuleNotFoundError"):
        load_data_handler(Path("custom_handler.py"), "Anything", {}, tmp_path)


@pytest.mark.parametrize(
    "returned",
    ["(x, y)", "((x, y), (x,))", "None", "((x, y[:2]), (x, y))"],
)
def test_get_data_must_return_two_pairs_of_matching_arrays(tmp_path, returned):
    write_handler(
        tmp_path,
        f"""
        import numpy as np

        class Odd:
            def __init__(self, data_config=None):
                pass

            def get_data(self):
                x, y = np.zeros((3, 2)), np.zeros(3)
                return {returned}
        """,
    )
    handler = load_data_handler(Path("custom_handler.py"), "Odd", {}, tmp_path)
    with pytest.raises(DataError, match=r"Odd\.get_data\(\)"):
        get_data(handler)
