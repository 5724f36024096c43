"""fldecl: declarative federated learning with homomorphic encryption."""

__version__ = "0.1.0"
