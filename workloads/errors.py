"""The one error type of the workloads layer."""


class CascadeError(ValueError):
    """A cascade (or its text, sizes or inputs) is malformed.

    The message names the Einsum or statement and the offending token.
    """
