"""Test support shared by tests/ (importable as ``support``: tests/ is on sys.path): real versions, the data-set zoo."""
