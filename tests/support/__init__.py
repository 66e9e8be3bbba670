"""Shared test material that is more than a fixture: the training data-set zoo."""
