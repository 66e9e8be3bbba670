"""Test support shared by tests/ (importable as ``support``: tests/ is on sys.path)."""
