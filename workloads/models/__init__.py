"""Whole transformer layers around an attention core, and the model zoo."""
