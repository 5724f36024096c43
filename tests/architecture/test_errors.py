"""One error tree: every exception class fldecl defines derives from :class:`fldecl.errors.FldeclError`
(through a branch), so the CLI's one ``except FldeclError`` covers them all and "internal error" means a bug."""

from __future__ import annotations

import ast
import builtins

import pytest

from fldecl.cli.session import UserError, user_errors
from fldecl.core.errors import LockBusy
from fldecl.he.errors import HEError
from fldecl.pki.errors import PKIError
from tests.conftest import ROOT

BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)}
#: Started by path in IBM's party interpreter, needing nothing of fldecl; click's own exception type.
STANDALONE = {"fldecl/providers/wml/party_runtime.py", "fldecl/cli/session.py"}


def test_no_exception_class_derives_from_a_builtin_exception_directly() -> None:
    outside = []
    for path in sorted((ROOT / "fldecl").rglob("*.py")):
        relative = str(path.relative_to(ROOT))
        if relative in STANDALONE or relative == "fldecl/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                builtin_bases = [base.id for base in node.bases if isinstance(base, ast.Name) and base.id in BUILTIN_EXCEPTIONS]
                if builtin_bases:
                    outside.append(f"{relative}:{node.lineno}: {node.name}({', '.join(builtin_bases)})")
    assert not outside, "exception classes outside fldecl.errors' tree:\n" + "\n".join(outside)


def test_the_tree_has_one_root_and_three_branches() -> None:
    from fldecl.core.errors import LockBusy, NotFoundError, PlanError, StackInvalid, StateError, TransientError
    from fldecl.errors import BackendError, FldeclError, InputError, RuntimeFailure
    from fldecl.launch.errors import LaunchError
    from fldecl.pki.files import EncryptedKeyError
    from fldecl.variables import UnsetVariable

    assert all(issubclass(branch, FldeclError) for branch in (InputError, BackendError, RuntimeFailure))
    assert all(issubclass(error, InputError) for error in (StackInvalid, PlanError, UnsetVariable, EncryptedKeyError))
    assert all(issubclass(error, BackendError) for error in (TransientError, NotFoundError, LaunchError, StateError, LockBusy))
    assert not issubclass(StateError, InputError) and not issubclass(LaunchError, RuntimeFailure)


@pytest.mark.parametrize("error", [PKIError("key file party.key does not exist"), HEError("the keyring is not this training's"),
                                   LockBusy("locked by apply since 12:00")])
def test_the_cli_prints_any_fldecl_error_as_its_one_line(error: Exception) -> None:
    with pytest.raises(UserError) as caught, user_errors():
        raise error
    assert caught.value.format_message() == str(error)


def test_the_cli_calls_anything_else_an_internal_error() -> None:
    with pytest.raises(UserError, match=r"^internal error: KeyError: 'spec' \(set FLDECL_DEBUG=1"), user_errors():
        raise KeyError("spec")
