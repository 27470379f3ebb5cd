"""`ValidationError`: the validation layer's one error type (a `ValueError`), for malformed measurement files, cases,
comparison inputs and output paths. Standard library only, so the standalone harness may raise it too."""
from __future__ import annotations


class ValidationError(ValueError):
    """A measurement file, case, comparison input or output path that is malformed; the message names it and what
    would work."""
