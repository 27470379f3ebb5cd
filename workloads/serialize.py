"""Cascades as text and as YAML (a simplified form of TeAAL's `einsum:` section: declaration + expressions;
Nayak et al., "TeAAL", MICRO 2023).

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
from workloads.errors import CascadeError, quote, shorten
from workloads.ir import Blocks, Cascade, Causal, Neighborhood, Window, require_cascade
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
    raise CascadeError(f"cannot write mask {quote(mask)}")


def init_text(c: Cascade, init) -> str:
    """An initial value as its statement (`RM[b,h,m,0] = -inf`)."""
    t = c.tensors[init.tensor]
    indices = ",".join("0" if r == t.iterative else r.lower() for r in t.ranks)
    return f"{init.tensor}[{indices}] = {_number(init.value)}"


def statements(c: Cascade) -> list[str]:
    """The cascade as statements of the Einsum language, in declaration order."""
    require_cascade(c, "statements")
    lines = ["input " + ", ".join(f"{n}[{_ranks(c.tensors[n].ranks)}]" for n in c.inputs)]
    lines += [f"split {s.rank.lower()} -> {s.outer.lower()}, {s.inner.lower()}" for s in c.splits]
    lines += ["mask " + mask_text(m) for m in c.masks]
    lines += [init_text(c, i) for i in c.inits]
    lines += [e.text for e in c.einsums]
    lines.append(f"output {c.output}")
    return lines


def to_text(c: Cascade) -> str:
    """The cascade as Einsum-language text: `cascade(to_text(c), c.sizes, name=c.name, dtype=c.dtype) == c`."""
    return "\n".join(statements(c)) + "\n"


def save(c: Cascade) -> str:
    """The cascade as a YAML document."""
    require_cascade(c, "save")
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

MAX_YAML_NODES = 1 << 16   # nodes a document may expand to (aliases included): a whole layer has a few hundred


def _where(node, path: str) -> str:
    return f"line {node.start_mark.line + 1}, key {shorten(path, 60)}"


class _Walk:
    """Node → Python value (mappings checked for duplicate keys); scalars resolved by the safe loader; the number
    of visited nodes is bounded so that an alias bomb is refused instead of expanded."""

    def __init__(self):
        import yaml  # lazily: only YAML users need PyYAML
        self.yaml, self.visited, self.scalars = yaml, 0, yaml.SafeLoader("")

    def value(self, node, path: str):
        """The node's Python value (`path` is its key path for messages)."""
        self.visited += 1
        if self.visited > MAX_YAML_NODES:
            raise CascadeError(f"{_where(node, path or '<document>')}: the document expands to more than "
                               f"{MAX_YAML_NODES} nodes (aliases included); a cascade file is far smaller")
        if isinstance(node, self.yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, self.yaml.SequenceNode):
            return [(self.value(v, f"{path}[{i}]"), v) for i, v in enumerate(node.value)]
        try:
            return self.scalars.construct_object(node, deep=True)
        except self.yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or err
            raise CascadeError(f"{_where(node, path or '<document>')}: {quote(str(problem), 200)}") from None

    def _mapping(self, node, path: str) -> dict:
        out = {}
        for key_node, value_node in node.value:
            key = self.value(key_node, path)
            if not isinstance(key, (str, int, float, bool)):
                raise CascadeError(f"{_where(key_node, path)}: mapping keys must be scalars")
            child = f"{path}.{key}" if path else str(key)
            if key in out:
                raise CascadeError(f"{_where(key_node, child)}: duplicate key {quote(key)}")
            out[key] = (self.value(value_node, child), value_node)
        return out


def _strip(value):
    """Drop the node bookkeeping from a `_Walk` result."""
    if isinstance(value, dict):
        return {k: _strip(v[0]) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip(v[0]) for v in value]
    return value


def _expect(value, node, path, kind, what):
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CascadeError(f"{_where(node, path)}: expected {what}, got {type(value).__name__} "
                           f"{quote(_strip(value))}")


def load(text: str) -> Cascade:
    """Parse a YAML document written by `save` (or by hand) into a validated Cascade."""
    doc, root = _document(text)
    get = lambda key, default: doc[key] if key in doc else (default, root)
    name, name_node = get("cascade", None)
    _expect(name, name_node, "cascade", str, "a name")
    dtype, dtype_node = get("dtype", "fp16")
    _expect(dtype, dtype_node, "dtype", str, "a dtype name")
    output, output_node = get("output", None)
    if output is not None:
        _expect(output, output_node, "output", str, "a tensor name")
    lines = _input_lines(doc) + _split_lines(get("splits", {})) + _statement_lines("masks", "mask ", get("masks", []))
    lines += _init_lines(get("init", {})) + _statement_lines("einsums", "", get("einsums", []))
    return _build(lines, _sizes(doc), name, output, dtype)


def _document(text: str) -> tuple[dict, object]:
    """The document's top-level mapping (values with their nodes) and its root node, keys checked."""
    import yaml  # lazily: only YAML users need PyYAML
    if not isinstance(text, str):
        raise CascadeError(f"YAML text must be a str, got {type(text).__name__}")
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))   # libyaml when built
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or err
        raise CascadeError(f"{line}malformed YAML: {quote(str(problem), 200)}") from None
    except RecursionError:
        raise CascadeError("YAML document nests too deeply") from None
    if root is None:
        raise CascadeError("empty YAML document (expected the keys " + ", ".join(KEYS) + ")")
    try:
        doc = _Walk().value(root, "")
    except RecursionError:
        raise CascadeError("YAML document nests too deeply (a recursive alias?)") from None
    _expect(doc, root, "<document>", dict, "a mapping of " + ", ".join(KEYS))
    for key, (_, node) in doc.items():
        if key not in KEYS:
            raise CascadeError(f"{_where(node, str(key))}: unknown key {quote(key)} (valid: {', '.join(KEYS)})")
    for key in REQUIRED:
        if key not in doc:
            raise CascadeError(f"line {root.start_mark.line + 1}: missing required key {key!r}")
    return doc, root


def _sizes(doc: dict) -> dict:
    value, node = doc["sizes"]
    _expect(value, node, "sizes", dict, "a mapping rank -> size")
    sizes = {}
    for rank, (size, size_node) in value.items():
        _expect(size, size_node, f"sizes.{rank}", int, "an integer size")
        sizes[str(rank)] = size
    return sizes


def _input_lines(doc: dict) -> list:
    value, node = doc["inputs"]
    _expect(value, node, "inputs", dict, "a mapping tensor -> [ranks]")
    lines = []
    for tensor, (ranks, ranks_node) in value.items():
        _expect(ranks, ranks_node, f"inputs.{tensor}", list, "a list of ranks")
        for rank, rank_node in ranks:
            _expect(rank, rank_node, f"inputs.{tensor}", str, "a rank name")
        lines.append((f"input {tensor}[{_ranks(r for r, _ in ranks)}]", ranks_node, f"inputs.{tensor}"))
    return lines


def _split_lines(entry) -> list:
    value, node = entry
    _expect(value, node, "splits", dict, "a mapping rank -> [outer, inner]")
    lines = []
    for rank, (parts, parts_node) in value.items():
        path = f"splits.{rank}"
        _expect(parts, parts_node, path, list, "[outer, inner]")
        if len(parts) != 2 or not all(isinstance(p, str) for p, _ in parts):
            raise CascadeError(f"{_where(parts_node, path)}: expected [outer, inner] rank names")
        lines.append((f"split {str(rank).lower()} -> {parts[0][0].lower()}, {parts[1][0].lower()}", parts_node, path))
    return lines


def _statement_lines(key: str, prefix: str, entry) -> list:
    value, node = entry
    _expect(value, node, key, list, "a list of statements")
    lines = []
    for k, (item, item_node) in enumerate(value):
        _expect(item, item_node, f"{key}[{k}]", str, "a statement string")
        lines.append((prefix + item, item_node, f"{key}[{k}]"))
    return lines


def _init_lines(entry) -> list:
    value, node = entry
    _expect(value, node, "init", dict, "a mapping tensor -> initial value")
    lines = []
    for tensor, (number, number_node) in value.items():
        _expect(number, number_node, f"init.{tensor}", (int, float), "a number")
        lines.append((f"{tensor}[...] = {_number(number)}", number_node, f"init.{tensor}"))
    return lines


def _build(lines, sizes, name, output, dtype) -> Cascade:
    # Initial values need their tensor's ranks: read them off the Einsum that writes the tensor at `+1`.
    ranks_of = {}
    for text, node, path in lines:
        if path.startswith("einsums"):
            st = _checked(text, node, path)
            if st is None or st.kind != "einsum":
                got = "nothing" if st is None else f"{'an' if st.kind[0] in 'aeiou' else 'a'} {st.kind} statement"
                raise CascadeError(f"{_where(node, path)}: expected an Einsum statement `NAME[...] = ...`, got {got}")
            ranks_of[st.payload.name] = st.payload.output.indices
    resolved = []
    for text, node, path in lines:
        if path.startswith("init."):
            tensor = path[len("init."):]
            if tensor not in ranks_of:
                raise CascadeError(f"{_where(node, path)}: no Einsum writes {shorten(tensor, 40)}")
            indices = ",".join("0" if i.step == "next" else i.rank.lower() for i in ranks_of[tensor])
            text = f"{tensor}[{indices}] = {text.split(' = ', 1)[1]}"
        _checked(text, node, path)
        resolved.append((text, node, path))
    try:
        return cascade("\n".join(t for t, _, _ in resolved) + "\n", sizes, name=name, output=output, dtype=dtype)
    except CascadeError as err:
        message = str(err)
        for text, node, path in resolved:
            if f"`{shorten(text.strip())}`" in message or (path.startswith("sizes") and path in message):
                raise CascadeError(f"{_where(node, path)}: {message}") from None
        raise CascadeError(f"cascade {quote(name)}: {message}") from None


def _checked(text, node, path):
    try:
        return parse_statement(text, node.start_mark.line + 1)
    except CascadeError as err:
        raise CascadeError(f"{_where(node, path)}: {err}") from None
    except RecursionError:
        raise CascadeError(f"{_where(node, path)}: expression nested too deeply") from None
