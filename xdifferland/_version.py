"""Package version (single place; read by pyproject metadata checks and provenance attributes)."""

__version__ = "0.1.0"
