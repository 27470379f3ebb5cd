"""The mask kinds of the Einsum language: `causal`, `window(left=, right=)` (spans, or tuples of spans per group of
query rows), `gna(spatial=(..), window=(..), stride=(..), dilation=(..), causal=(..))` and `blocks(q_block=, kv_block=, keep=((1,0),(1,1)))`, read with Python's
literal syntax (`ast.literal_eval`, so nothing is executed)."""
from __future__ import annotations

import ast

from workloads.errors import CascadeError, quote
from workloads.ir import Blocks, Causal, Mask, Neighborhood, Window


def _literal(node: ast.AST, where: str):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise CascadeError(f"{where}: mask argument {quote(ast.unparse(node))} is not a literal") from None


def parse_mask(query: str, key: str, spec: str, where: str) -> Mask:
    """The mask of `mask q, k: spec` over ranks `query`, `key` (rank variables), spec parsed as a Python call."""
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        raise CascadeError(f"{where}: cannot parse mask {quote(spec.strip())}") from None
    if isinstance(node, ast.Name):
        kind, kwargs = node.id, {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
        kind = node.func.id
        kwargs = {kw.arg: _literal(kw.value, where) for kw in node.keywords}
        if len(kwargs) != len(node.keywords):
            raise CascadeError(f"{where}: mask {kind}: an argument is given twice in {quote(spec.strip())}")
    else:
        raise CascadeError(f"{where}: mask must be `name` or `name(key=value, ...)`, got {quote(spec.strip())}")
    expected = {"causal": set(), "window": {"left", "right"},
                "gna": {"spatial", "window", "stride", "dilation", "causal"},
                "blocks": {"q_block", "kv_block", "keep"}}
    if kind not in expected:
        raise CascadeError(f"{where}: unknown mask kind {quote(kind)} (known: {', '.join(expected)})")
    missing = expected[kind] - set(kwargs) - ({"stride", "dilation", "causal"} if kind == "gna" else set())
    unknown = set(kwargs) - expected[kind]
    if unknown or missing:
        raise CascadeError(f"{where}: mask {kind}: unknown argument(s) {quote(sorted(unknown))} / missing "
                           f"{sorted(missing)}")
    q, k = query.upper(), key.upper()
    if kind == "causal":
        return Causal(q, k)
    if kind == "window":
        return Window(q, k, _span(kwargs["left"], "left", where), _span(kwargs["right"], "right", where))
    if kind == "blocks":
        rows = kwargs["keep"]
        if not isinstance(rows, (tuple, list)) or not all(isinstance(row, (tuple, list)) for row in rows):
            raise CascadeError(f"{where}: mask blocks: keep must be a table of 0/1 rows, e.g. ((1,0),(1,1)), "
                               f"got {quote(rows)}")
        keep = tuple(tuple(_flag(x, "keep", where) for x in row) for row in rows)
        return Blocks(q, k, _int(kwargs["q_block"], "q_block", where), _int(kwargs["kv_block"], "kv_block", where),
                      keep)
    spatial = tuple(_int(x, "spatial", where) for x in _tuple(kwargs["spatial"]))
    n = len(spatial)
    per_dim = lambda key_, default: tuple(_tuple(kwargs.get(key_, (default,) * n)))
    return Neighborhood(q, k, spatial, tuple(_int(x, "window", where) for x in per_dim("window", 1)),
                        tuple(_int(x, "stride", where) for x in per_dim("stride", 1)),
                        tuple(_int(x, "dilation", where) for x in per_dim("dilation", 1)),
                        tuple(_flag(x, "causal", where) for x in per_dim("causal", False)))


def _tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _span(value, name: str, where: str):
    """A window span: an integer, or a tuple of them (one per group of query rows)."""
    if isinstance(value, (tuple, list)):
        return tuple(_int(x, name, where) for x in value)
    return _int(value, name, where)


def _int(value, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CascadeError(f"{where}: mask argument {name}={quote(value)} must be an integer")
    return value


def _flag(value, name: str, where: str) -> bool:
    if value not in (0, 1) or not isinstance(value, (bool, int)):
        raise CascadeError(f"{where}: mask argument {name} entry {quote(value)} must be 0/1 or True/False")
    return bool(value)
