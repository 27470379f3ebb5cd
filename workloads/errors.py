"""The one error type of the workloads layer, and `quote`, which keeps messages that echo user input bounded."""

MESSAGE_QUOTE_LIMIT = 80   # characters of one echoed value in a message (a 28 MB token must not become the message)


class CascadeError(ValueError):
    """A cascade (or its text, sizes or inputs) is malformed.

    The message names the Einsum or statement and the offending token.
    """


def quote(value, limit: int = MESSAGE_QUOTE_LIMIT) -> str:
    """`repr(value)`, cut to `limit` characters (with the length it had) so that an echoed input stays readable."""
    text = _safe_repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def shorten(text: str, limit: int = 2 * MESSAGE_QUOTE_LIMIT) -> str:
    """A statement as quoted in a message: at most `limit` characters, the cut marked."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def _safe_repr(value) -> str:
    try:
        return repr(value)
    except Exception:  # a user object whose __repr__ fails must not replace the real error
        return f"<{type(value).__name__}>"
