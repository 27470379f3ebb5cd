"""Cascades as text and as YAML (a simplified TeAAL-like schema, attention-einsums.md §0.5).

`statements(c)` writes a cascade back in the Einsum language (`cascade(to_text(c), c.sizes, ...) == c`);
`save(c)` / `load(text)` round-trip exactly. The YAML file reads:

    cascade: mha_1pass            # name
    dtype: fp16
    output: AV
    sizes: {B: 1, H: 2, M: 8, P: 8, E: 4, F: 4, P0: 4, P1: 2}
    inputs: {Q: [B, H, M, E], K: [B, H, P, E], V: [B, H, P, F]}   # declaration
    splits: {P: [P1, P0]}                                           # rank views: rank -> [outer, inner]
    masks: ["m, p: causal"]                                         # `mask` statements without the keyword
    init: {RM: -.inf, RD: 0.0, RNV: 0.0}                            # initial values of iterative tensors
    einsums: ["BQK[b,h,m,p1,p0] = Q[b,h,m,e] * K[b,h,p1,p0,e]", ...]

Malformed files raise CascadeError naming the line and key (duplicate keys included).
"""
from __future__ import annotations

import math

from workloads.build import cascade
from workloads.errors import CascadeError
from workloads.ir import Blocks, Cascade, Causal, Neighborhood, Window
from workloads.parse import parse_statement

KEYS = ("cascade", "dtype", "output", "sizes", "inputs", "splits", "masks", "init", "einsums")
REQUIRED = ("cascade", "sizes", "inputs", "einsums")


def _ranks(ranks) -> str:
    return ",".join(r.lower() for r in ranks)


def _number(value: float) -> str:
    return "-inf" if value == -math.inf else "inf" if value == math.inf else repr(float(value))


def mask_text(mask) -> str:
    """A mask as the text after `mask ` (e.g. `m, p: window(left=3, right=0)`)."""
    head = f"{mask.query.lower()}, {mask.key.lower()}: "
    if isinstance(mask, Causal):
        return head + "causal"
    if isinstance(mask, Window):
        return head + f"window(left={mask.left}, right={mask.right})"
    if isinstance(mask, Blocks):
        keep = tuple(tuple(int(x) for x in row) for row in mask.keep)
        return head + f"blocks(q_block={mask.q_block}, kv_block={mask.kv_block}, keep={keep})"
    if isinstance(mask, Neighborhood):
        return head + (f"gna(spatial={mask.spatial}, window={mask.window}, stride={mask.stride}, "
                       f"dilation={mask.dilation}, causal={mask.causal})")
    raise CascadeError(f"cannot write mask {mask!r}")


def init_text(c: Cascade, init) -> str:
    t = c.tensors[init.tensor]
    indices = ",".join("0" if r == t.iterative else r.lower() for r in t.ranks)
    return f"{init.tensor}[{indices}] = {_number(init.value)}"


def statements(c: Cascade) -> list[str]:
    """The cascade as statements of the Einsum language, in declaration order."""
    lines = ["input " + ", ".join(f"{n}[{_ranks(c.tensors[n].ranks)}]" for n in c.inputs)]
    lines += [f"split {s.rank.lower()} -> {s.outer.lower()}, {s.inner.lower()}" for s in c.splits]
    lines += ["mask " + mask_text(m) for m in c.masks]
    lines += [init_text(c, i) for i in c.inits]
    lines += [e.text for e in c.einsums]
    lines.append(f"output {c.output}")
    return lines


def to_text(c: Cascade) -> str:
    return "\n".join(statements(c)) + "\n"


def save(c: Cascade) -> str:
    """The cascade as a YAML document."""
    import yaml  # lazily: only YAML users need PyYAML
    doc = {
        "cascade": c.name, "dtype": c.dtype, "output": c.output, "sizes": dict(c.sizes),
        "inputs": {n: list(c.tensors[n].ranks) for n in c.inputs},
        "splits": {s.rank: [s.outer, s.inner] for s in c.splits},
        "init": {i.tensor: float(i.value) for i in c.inits},
    }
    statements = {"masks": [mask_text(m) for m in c.masks], "einsums": [e.text for e in c.einsums]}
    return (yaml.safe_dump(doc, sort_keys=False, width=1000, default_flow_style=None)
            + yaml.safe_dump(statements, sort_keys=False, width=1000, default_flow_style=False))


# --- loading: walk the composed node tree so every error can name its line, and duplicate keys are caught ---

def _where(node, path: str) -> str:
    return f"line {node.start_mark.line + 1}, key {path}"


def _plain(node, path: str):
    """Node → Python value (mappings checked for duplicate keys); scalars resolved by the safe loader."""
    import yaml  # lazily: only YAML users need PyYAML
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = _plain(key_node, path)
            if not isinstance(key, (str, int, float, bool)):
                raise CascadeError(f"{_where(key_node, path)}: mapping keys must be scalars")
            if key in out:
                raise CascadeError(f"{_where(key_node, f'{path}.{key}' if path else str(key))}: duplicate key {key!r}")
            out[key] = (_plain(value_node, f"{path}.{key}" if path else str(key)), value_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(_plain(v, f"{path}[{i}]"), v) for i, v in enumerate(node.value)]
    try:
        return yaml.SafeLoader("").construct_object(node, deep=True)
    except yaml.YAMLError as err:
        raise CascadeError(f"{_where(node, path or '<document>')}: {getattr(err, 'problem', None) or err}") from None


def _strip(value):
    """Drop the node bookkeeping from a `_plain` result."""
    if isinstance(value, dict):
        return {k: _strip(v[0]) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip(v[0]) for v in value]
    return value


def _expect(value, node, path, kind, what):
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CascadeError(f"{_where(node, path)}: expected {what}, got {type(value).__name__} {_strip(value)!r}")


def load(text: str) -> Cascade:
    """Parse a YAML document written by `save` (or by hand) into a validated Cascade."""
    import yaml  # lazily: only YAML users need PyYAML
    if not isinstance(text, str):
        raise CascadeError(f"YAML text must be a str, got {type(text).__name__}")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise CascadeError(f"{line}malformed YAML: {getattr(err, 'problem', None) or err}") from None
    if root is None:
        raise CascadeError("empty YAML document (expected the keys " + ", ".join(KEYS) + ")")
    try:
        doc = _plain(root, "")
    except RecursionError:
        raise CascadeError("YAML document nests too deeply (a recursive alias?)") from None
    _expect(doc, root, "<document>", dict, "a mapping of " + ", ".join(KEYS))
    for key, (_, node) in doc.items():
        if key not in KEYS:
            raise CascadeError(f"{_where(node, str(key))}: unknown key {key!r} (valid: {', '.join(KEYS)})")
    for key in REQUIRED:
        if key not in doc:
            raise CascadeError(f"line {root.start_mark.line + 1}: missing required key {key!r}")
    get = lambda key, default: doc[key] if key in doc else (default, root)
    name, name_node = get("cascade", None)
    _expect(name, name_node, "cascade", str, "a name")
    dtype, dtype_node = get("dtype", "fp16")
    _expect(dtype, dtype_node, "dtype", str, "a dtype name")
    output, output_node = get("output", None)
    if output is not None:
        _expect(output, output_node, "output", str, "a tensor name")

    lines: list[tuple[str, object, str]] = []  # (statement, node, key path)
    sizes_value, sizes_node = doc["sizes"]
    _expect(sizes_value, sizes_node, "sizes", dict, "a mapping rank -> size")
    sizes = {}
    for rank, (size, node) in sizes_value.items():
        _expect(size, node, f"sizes.{rank}", int, "an integer size")
        sizes[str(rank)] = size
    inputs_value, inputs_node = doc["inputs"]
    _expect(inputs_value, inputs_node, "inputs", dict, "a mapping tensor -> [ranks]")
    for tensor, (ranks, node) in inputs_value.items():
        _expect(ranks, node, f"inputs.{tensor}", list, "a list of ranks")
        for rank, rank_node in ranks:
            _expect(rank, rank_node, f"inputs.{tensor}", str, "a rank name")
        lines.append((f"input {tensor}[{_ranks(r for r, _ in ranks)}]", node, f"inputs.{tensor}"))
    splits_value, splits_node = get("splits", {})
    _expect(splits_value, splits_node, "splits", dict, "a mapping rank -> [outer, inner]")
    for rank, (parts, node) in splits_value.items():
        path = f"splits.{rank}"
        _expect(parts, node, path, list, "[outer, inner]")
        if len(parts) != 2 or not all(isinstance(p, str) for p, _ in parts):
            raise CascadeError(f"{_where(node, path)}: expected [outer, inner] rank names")
        lines.append((f"split {str(rank).lower()} -> {parts[0][0].lower()}, {parts[1][0].lower()}", node, path))
    for key, prefix in (("masks", "mask "), ("einsums", "")):
        value, node = get(key, [])
        _expect(value, node, key, list, "a list of statements")
        for k, (item, item_node) in enumerate(value):
            _expect(item, item_node, f"{key}[{k}]", str, "a statement string")
            lines.append((prefix + item, item_node, f"{key}[{k}]"))
        if key == "masks":
            init_value, init_node = get("init", {})
            _expect(init_value, init_node, "init", dict, "a mapping tensor -> initial value")
            for tensor, (number, node) in init_value.items():
                _expect(number, node, f"init.{tensor}", (int, float), "a number")
                lines.append((f"{tensor}[...] = {_number(number)}", node, f"init.{tensor}"))
    return _build(lines, sizes, name, output, dtype)


def _build(lines, sizes, name, output, dtype) -> Cascade:
    # Initial values need their tensor's ranks: read them off the Einsum that writes the tensor at `+1`.
    ranks_of = {}
    for text, node, path in lines:
        if path.startswith("einsums"):
            st = _checked(text, node, path)
            ranks_of[st.payload.name] = st.payload.output.indices
    resolved = []
    for text, node, path in lines:
        if path.startswith("init."):
            tensor = path[len("init."):]
            if tensor not in ranks_of:
                raise CascadeError(f"{_where(node, path)}: no Einsum writes {tensor}")
            indices = ",".join("0" if i.step == "next" else i.rank.lower() for i in ranks_of[tensor])
            text = f"{tensor}[{indices}] = {text.split(' = ', 1)[1]}"
        _checked(text, node, path)
        resolved.append((text, node, path))
    try:
        return cascade("\n".join(t for t, _, _ in resolved) + "\n", sizes, name=name, output=output, dtype=dtype)
    except CascadeError as err:
        message = str(err)
        for text, node, path in resolved:
            if f"`{text.strip()}`" in message or (path.startswith("sizes") and path in message):
                raise CascadeError(f"{_where(node, path)}: {message}") from None
        raise CascadeError(f"cascade {name!r}: {message}") from None


def _checked(text, node, path):
    try:
        return parse_statement(text, node.start_mark.line + 1)
    except CascadeError as err:
        raise CascadeError(f"{_where(node, path)}: {err}") from None


def retile(c: Cascade, inner: str, size: int) -> Cascade:
    """The same cascade with split part `inner` (e.g. "P0") of size `size`; the outer part (P1 = ⌈P/P0⌉) follows.

    Retiling changes how a rank is walked, not what is computed: a dataflow that chooses its own key tile applies
    it with this (the per-tile Einsums, such as the 1-pass cascade's running max, then count one point per tile).
    """
    split = next((s for s in c.splits if s.inner == inner), None)
    if split is None:
        raise CascadeError(f"retile: {inner!r} is not the inner part of a split of {c.name} "
                           f"(splits: {', '.join(f'{s.rank} -> {s.outer}, {s.inner}' for s in c.splits) or 'none'})")
    if c.sizes[inner] == size:
        return c
    sizes = {k: v for k, v in c.sizes.items() if k != split.outer}
    sizes[inner] = size
    return cascade(to_text(c), sizes, name=c.name, output=c.output, dtype=c.dtype)
