"""Recognising softmax attention in a cascade: a `Block` is one of FuseMax's three softmax cores (Nayak et al.,
MICRO 2024, Cascades 4 and 5 and the 2-pass family of its Table I), found Einsum for Einsum by unifying the cascade
with the core text of `workloads.variants.cores` up to tensor and rank names.

Flash-Decoding's split-KV merge (Dao et al., 2023) is recognised the same way. A core computes O[q…,m,f…] = Σ_p softmax_p(S[q…,m,p]) · V[kv…,p,f…] whatever its softmax form; what feeds the scores
S and the values V, and what reads O, is ordinary cascade. Recognition is structural (no numbers are compared), so
a core written with other tensor or rank names is recognised too; one written with other ops or argument orders is
not, and takes the general derivation.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from workloads.build import cascade
from workloads.ir import Call, Cascade, Const, Einsum, Ref
from workloads.order import producers
from workloads.variants.cores import CORES
from workloads.variants.grouped import SPLIT_KV

__all__ = ["Block", "find_blocks"]

TEMPLATE_SIZE = 2     # every rank of a template cascade: only its structure is compared
MAX_LEADING = 4       # leading (batch, head, group…) ranks a template is tried with, on each side


@dataclass(frozen=True)
class Block:
    """One softmax-attention core of a cascade: its kind, the Einsums it is made of, and the names (in the cascade)
    of its score input S, value input V, output O, key rank and split, and of the row statistics (max, sum) from
    which FlashAttention's log-sum-exp is LSE = max + log(sum)."""
    kind: str                      # "1pass", "2pass" or "3pass"
    einsums: frozenset             # names of the core's Einsums (O included)
    scores: str
    values: str
    output: str
    key: str                       # the key rank P
    key_split: tuple | None        # (P, P1, P0) of the tiled cores
    row_max: str
    row_sum: str




def _split_kv_core() -> str:
    """Flash-Decoding's split-KV merge (`workloads.variants.grouped.SPLIT_KV`) as a core over its scores SQK."""
    lines = [line for line in SPLIT_KV.strip().splitlines() if not line.startswith("SQK[")]
    text = "\n".join(lines).replace("b,g,r,", "{q},").replace("b,g,", "{kv},").replace(",f]", ",{f}]")
    return text.replace("V[{kv}", "{V}[{kv}").replace("\nAV[", "\n{AV}[") + "\n"


TEMPLATES = {**CORES, "split_kv": _split_kv_core()}
# Per core: its score tensor and how the scores index the key; its row statistics (max, sum) after the key loop.
_SCORES = {"3pass": ("QK", "p"), "2pass": ("BQK", "p1,p0"), "1pass": ("BQK", "p1,p0"), "split_kv": ("SQK", "z,p0")}
_STATISTICS = {"1pass": ("RM", "RD"), "2pass": ("GM", "SD"), "3pass": ("GM", "SD"), "split_kv": ("GMZ", "DEN")}


def find_blocks(c: Cascade) -> list[Block]:
    """Every softmax core of `c` whose internal tensors nothing outside it reads, in statement order."""
    found: list[Block] = []
    taken: set[str] = set()
    for e in c.einsums:
        if e.name in taken:
            continue
        block = _match_at(c, e)
        if block is not None and _sealed(c, block):
            found.append(block)
            taken |= block.einsums
    return found


def _match_at(c: Cascade, e: Einsum) -> Block | None:
    n_out = len(e.output.indices)
    for kind in TEMPLATES:
        if _anchor(e) != _anchor(_template(kind, 0, 0, 1).einsums[-1]):
            continue   # the core's output Einsum has another shape: no template of this kind can match
        for nq in range(min(MAX_LEADING, n_out - 2) + 1):
            for nkv in range(nq + 1):
                template = _template(kind, nq, nkv, n_out - 1 - nq)
                binding = _unify_from(template, c, e)
                if binding is not None:
                    return _block(kind, template, binding)
    return None


def _anchor(e: Einsum) -> tuple:
    """An Einsum's reduction and top-level op, to rule templates out before building them."""
    return e.reduce, e.expr.op if isinstance(e.expr, Call) else type(e.expr).__name__


@functools.lru_cache(maxsize=None)
def _template(kind: str, nq: int, nkv: int, nf: int) -> Cascade:
    """The core `kind` as a cascade whose inputs are its scores S and values V."""
    q = [f"x{i}" for i in range(nq)]
    kv = q[:nkv]
    f = [f"f{i}" for i in range(nf)]
    score, key = _SCORES[kind]
    lead = lambda ranks: "".join(r + "," for r in ranks)
    text = f"input {score}[{lead(q)}m,{key}], V[{lead(kv)}p,{','.join(f)}]\n"
    body = TEMPLATES[kind].replace("{scores}", "").replace("{q},", lead(q)).replace("{kv},", lead(kv))
    text += body.format(f=",".join(f), V="V", AV="O")
    sizes = {r.upper(): TEMPLATE_SIZE for r in q + f + ["m", "p"]}
    if kind != "3pass":
        sizes["P0"] = TEMPLATE_SIZE // 2
    return cascade(text, sizes, name=f"core_{kind}", output="O")


class _Binding:
    """A one-to-one renaming of template tensors and ranks onto the cascade's."""

    def __init__(self):
        self.tensors: dict[str, str] = {}
        self.ranks: dict[str, str] = {}

    def bind(self, table: dict, key: str, value: str) -> bool:
        if key in table:
            return table[key] == value
        if value in table.values():
            return False
        table[key] = value
        return True


def _unify_from(template: Cascade, c: Cascade, anchor: Einsum) -> _Binding | None:
    """The binding under which the template's Einsums are the cascade's, starting from output O = `anchor`."""
    binding = _Binding()
    made_t, made_c = producers(template), producers(c)
    queue, seen = [("O", anchor.name)], set()
    while queue:
        t_name, c_name = queue.pop()
        if t_name in seen:
            continue
        seen.add(t_name)
        if c_name not in made_c or not _einsum(made_t[t_name], made_c[c_name], binding):
            return None
        for ref in _refs(made_t[t_name].expr):
            if ref.tensor in made_t:
                queue.append((ref.tensor, binding.tensors[ref.tensor]))
    if not _storage(template, c, binding):
        return None
    return binding


def _storage(template: Cascade, c: Cascade, b: _Binding) -> bool:
    """Bound tensors are stored over the bound ranks, with the same initial values and the same key split."""
    for t_name, c_name in b.tensors.items():
        t, x = template.tensors[t_name], c.tensors[c_name]
        if len(t.ranks) != len(x.ranks) or not all(b.bind(b.ranks, r, s) for r, s in zip(t.ranks, x.ranks)):
            return False
        if (t.iterative is None) != (x.iterative is None):
            return False
    inits = {i.tensor: i.value for i in c.inits}
    for init in template.inits:
        if inits.get(b.tensors[init.tensor]) != init.value:
            return False
    for s in template.splits:
        want = tuple(b.ranks.get(r) for r in (s.rank, s.outer, s.inner))
        if want not in {(x.rank, x.outer, x.inner) for x in c.splits}:
            return False
    return True


def _einsum(t: Einsum, x: Einsum, b: _Binding) -> bool:
    if t.reduce != x.reduce or len(t.reduce_ranks) != len(x.reduce_ranks):
        return False
    if not _ref(t.output, x.output, b) or not _expr(t.expr, x.expr, b):
        return False
    return {b.ranks.get(r) for r in t.reduce_ranks} == set(x.reduce_ranks)


def _ref(t: Ref, x: Ref, b: _Binding) -> bool:
    if len(t.indices) != len(x.indices) or not b.bind(b.tensors, t.tensor, x.tensor):
        return False
    return all(i.step == j.step and b.bind(b.ranks, i.rank, j.rank) for i, j in zip(t.indices, x.indices))


def _expr(t, x, b: _Binding) -> bool:
    if isinstance(t, Ref):
        return isinstance(x, Ref) and _ref(t, x, b)
    if isinstance(t, Const):
        return isinstance(x, Const) and t.value == x.value
    return (isinstance(x, Call) and t.op == x.op and len(t.args) == len(x.args)
            and all(_expr(u, v, b) for u, v in zip(t.args, x.args)))


def _refs(expr) -> list[Ref]:
    if isinstance(expr, Ref):
        return [expr]
    if isinstance(expr, Call):
        return [r for a in expr.args for r in _refs(a)]
    return []


def _block(kind: str, template: Cascade, b: _Binding) -> Block:
    internal = frozenset(b.tensors[e.name] for e in template.einsums)
    score = _SCORES[kind][0]
    split = template.splits[0] if template.splits else None
    row_max, row_sum = _STATISTICS[kind]
    return Block(kind=kind, einsums=internal, scores=b.tensors[score], values=b.tensors["V"], output=b.tensors["O"],
                 key=b.ranks["P"],
                 key_split=None if split is None else tuple(b.ranks[r] for r in (split.rank, split.outer, split.inner)),
                 row_max=b.tensors[row_max], row_sum=b.tensors[row_sum])


def _sealed(c: Cascade, block: Block) -> bool:
    """Nothing outside the core reads its internal tensors (only its output O leaves it), and its output is not
    also written at a `+1` index."""
    inside = block.einsums - {block.output}
    for e in c.einsums:
        if e.name not in block.einsums and any(r.tensor in inside for r in _refs(e.expr)):
            return False
    return c.tensors[block.output].iterative is None and block.scores not in block.einsums

