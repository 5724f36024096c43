"""What a party needs to join, handed over by the CLI: ``party config`` in each format, ``output``, and ``show``'s ids.

The kit's shape is what IBM's client takes: ``create_party(rts_id, party_metadata)`` is called with
it in a process of its own, and IBM's runtime loads the data handler, the certificates and the key
it names. (Joining the training itself needs WML's aggregator in the emulator.)
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fldecl.core.contract import Observed
from tests.conftest import run_cli
from tests.wml.conftest import cli_env, example_copy, set_emulator_env, simulating_emulator
from tests.wml.test_reconcile import apply, open_stack

DRIVER = Path(__file__).with_name("party_kit_driver.py")
PARTY_TOKEN = "party-token-3c9e1f"


@pytest.fixture(scope="module")
def wml_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One emulator for the module's tests, which only read what ``applied`` made; its variables set in this process."""
    with simulating_emulator(tmp_path_factory.mktemp("kit")) as emulator, pytest.MonkeyPatch.context() as monkeypatch:
        yield set_emulator_env(emulator, monkeypatch)


@pytest.fixture(scope="module")
def applied(wml_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Observed]]:
    """The example on the emulator, its training started; Party_1's handler info refers to a sensitive variable."""
    stack = example_copy(tmp_path_factory.mktemp("stack"))
    (stack / "stack.yaml").write_text((stack / "stack.yaml").read_text().rstrip() + "\n  sensitive_variables: [PARTY_TOKEN]\n")
    rts = stack / "rts.yaml"
    with_token = "npz_file: data/data_party_1.npz\n        token: ${PARTY_TOKEN}"
    rts.write_text(rts.read_text().replace("npz_file: data/data_party_1.npz", with_token, 1))
    rec, _ = open_stack(stack, wait=False)
    apply(rec)
    return stack, {obs.address: obs for obs in rec.observe()}


def party_env(wml_env: dict[str, str]) -> dict[str, str]:
    """The CLI's environment: the emulator, the example on the wml backend, and the party's own secret."""
    return {**cli_env(wml_env), "FLDECL_BACKEND": "wml", "PARTY_TOKEN": PARTY_TOKEN}


def fldecl(wml_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, env=party_env(wml_env))
    assert result.returncode == 0, result.stdout + result.stderr
    assert PARTY_TOKEN not in result.stdout + result.stderr
    return result


def expected_metadata(root: Path | str, token: Any) -> dict[str, Any]:
    return {
        "local_training": {"info": {"crypto": {"key_manager": {"key_mgr_info": {"distribution": {
            "ca_cert_file_path": f"{root}/pki/is_cert_v1.pem",
            "my_cert_file_path": f"{root}/pki/sb_cert_v1_1.pem",
            "asym_key_file_path": f"{root}/pki/sb_asym_v1_1.pem"}}}}}},
        "data_handler": {"name": "MnistPytorchDataHandler", "path": f"{root}/handlers/mnist_pytorch_data_handler.py",
                         "info": {"npz_file": f"{root}/data/data_party_1.npz", "token": token}}}


def test_party_config_json_has_the_ids_and_the_create_party_metadata(wml_env: dict[str, str],
                                                                     applied: tuple[Path, dict[str, Observed]]) -> None:
    stack, observed = applied
    kit = json.loads(fldecl(wml_env, "party", "config", "Party_1", str(stack)).stdout)
    assert kit == {"party": "Party_1", "training": "aggregator_he",
                   "remote_training_system_id": observed["RemoteTrainingSystem/Party_1"].id,
                   "aggregator_id": observed["Training/aggregator_he"].id,
                   "party_metadata": expected_metadata(stack, "${PARTY_TOKEN}")}
    elsewhere = json.loads(fldecl(wml_env, "party", "config", "Party_1", "--party-dir", "/srv/party", str(stack)).stdout)
    assert elsewhere["party_metadata"] == expected_metadata("/srv/party", "${PARTY_TOKEN}")


def test_party_config_env_lines_read_back_in_a_shell(wml_env: dict[str, str], applied: tuple[Path, dict[str, Observed]]) -> None:
    stack, observed = applied
    lines = fldecl(wml_env, "party", "config", "Party_1", "--format", "env", str(stack)).stdout
    shell = subprocess.run(["sh", "-c", f'{lines}\nprintf "%s\\n%s\\n%s" "$RTS_ID" "$TRAINING_ID" "$PARTY_METADATA"'],
                           capture_output=True, text=True, check=True)
    rts_id, training_id, metadata = shell.stdout.split("\n", 2)
    assert (rts_id, training_id) == (observed["RemoteTrainingSystem/Party_1"].id, observed["Training/aggregator_he"].id)
    assert json.loads(metadata) == expected_metadata(stack, "${PARTY_TOKEN}")
    assert all(shlex.split(line) for line in lines.splitlines())


def test_ibm_s_client_takes_the_python_kit_and_its_runtime_loads_what_it_names(
        wml_env: dict[str, str], applied: tuple[Path, dict[str, Observed]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack, observed = applied
    kit = fldecl(wml_env, "party", "config", "Party_1", "--format", "python", str(stack)).stdout
    assert "os.environ['PARTY_TOKEN']" in kit and "create_party(rts_id, party_metadata)" in kit
    monkeypatch.setenv("PARTY_TOKEN", PARTY_TOKEN)  # the party's own environment holds its secret
    namespace: dict[str, Any] = {}
    exec(kit, namespace)  # the notebook cell the party pastes
    assert namespace["party_metadata"] == expected_metadata(stack, PARTY_TOKEN)

    (tmp_path / "kit.py").write_text(kit)
    result = subprocess.run([sys.executable, str(DRIVER), str(tmp_path / "kit.py"), str(tmp_path / "joined.json")],
                            env=party_env(wml_env), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    joined = json.loads((tmp_path / "joined.json").read_text())
    assert joined == {"connection_id": observed["RemoteTrainingSystem/Party_1"].id, "train_shape": [200, 1, 28, 28],
                      "test_points": joined["test_points"], "key_matches_certificate": True,
                      "training_state": joined["training_state"], "fusion_type": "crypto_iter_avg"}
    assert joined["test_points"] > 0 and joined["training_state"] in ("pending", "accepting_parties", "running", "completed")


def test_output_and_show_give_whole_ids(wml_env: dict[str, str], applied: tuple[Path, dict[str, Observed]]) -> None:
    stack, observed = applied
    rts_id = observed["RemoteTrainingSystem/Party_1"].id
    assert fldecl(wml_env, "output", str(stack), "--raw", "RemoteTrainingSystem/Party_1").stdout == rts_id + "\n"
    assert json.loads(fldecl(wml_env, "output", str(stack), "--json").stdout) == {address: obs.id for address, obs in observed.items()}
    assert f'RemoteTrainingSystem/Party_1 = "{rts_id}"' in fldecl(wml_env, "output", str(stack)).stdout
    shown = run_cli("show", str(stack), env={**party_env(wml_env), "COLUMNS": "80"}).stdout
    for obs in observed.values():
        assert obs.id in shown, f"{obs.address}'s id is cut: {shown}"
