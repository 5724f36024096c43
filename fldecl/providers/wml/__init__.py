"""The ``wml`` backend: models, remote training systems and trainings on IBM Watson Machine Learning.

Everything goes through IBM's own client (``pip install 'fldecl[wml]'``), imported only when a
stack uses this backend: :mod:`.connection` signs in from the environment with TLS verification
forced on, :mod:`.mapping` translates between WML entities and fldecl attributes, and
:mod:`.provider` implements the provider contract. :mod:`.party` runs a party with WML's runtime.
"""
