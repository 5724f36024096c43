"""``python -m fldecl`` is the ``fldecl`` command."""

from fldecl.cli.main import main

main(prog_name="fldecl")
