"""The attention templates: what a cascade must be for a GPU attention kernel to simulate exactly it.

A template is a reference cascade built by the workloads package itself: the 1-, 2- or 3-pass softmax core
(`workloads.variants.cores.core`, after FuseMax, Nayak et al., MICRO 2024; FlashAttention's online softmax is the
1-pass one) over MHA or grouped heads, MLA's absorbed decode form (DeepSeek-V2, 2024), or sigmoid attention
(Ramapuram et al., "Theory, analysis, and best practices for sigmoid self-attention", 2024: scores → sigmoid →
PV, no row max or sum). `match` unifies the given cascade with each template from its output back to its inputs,
Einsum by Einsum, up to the names of tensors: the same ops (commutative ones in either order), reductions, index
patterns and initial values.

Between the score GEMM and the Einsums that read the scores, a chain of elementwise Einsums on the score tile is
allowed — a *score mod*: scaling, an additive bias or ALiBi input, soft-capping, a pointwise nonlinearity, or the
sigmoid of sigmoid attention. The kernel costs its ops and reads its inputs. Anything else is refused, naming the
first Einsum that does not fit.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import workloads
from workloads import Call, Cascade, Const, Einsum, Ref
from workloads.analysis import point_cost
from workloads.frozen import FrozenDict
from workloads.variants.cores import core
from workloads.variants.grouped import GROUPED_INPUTS

MHA_INPUTS = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]\n"
# Template sizes only have to parse: the match compares structure, never sizes.
SIZES = {"B": 1, "H": 2, "M": 2, "P": 4, "P0": 2, "E": 2, "F": 2}
GROUP_SIZES = {"R": 1}
SIGMOID_CORES = {   # the score tensor `S` is replaced by its sigmoid through a score mod
    "sigmoid": "{S}[{q},m,p] = Q[{q},m,e] * K[{kv},p,e]\nAV[{q},m,f] = {S}[{q},m,p] * V[{kv},p,f]\n",
    "sigmoid-tiled": ("split p -> p1, p0\n{S}[{q},m,p1,p0] = Q[{q},m,e] * K[{kv},p1,p0,e]\n"
                      "AV[{q},m,f] = {S}[{q},m,p1,p0] * V[{kv},p1,p0,f]\n"),
}
HEADS = {"mha": (MHA_INPUTS, "b,h", "b,h"), "grouped": (GROUPED_INPUTS, "b,g,r", "b,g")}


def _sizes(heads: str, tiled: bool) -> dict[str, int]:
    sizes = {**SIZES, **(GROUP_SIZES if heads == "grouped" else {})}
    return sizes if tiled else {k: v for k, v in sizes.items() if k != "P0"}
COMMUTATIVE = frozenset({"add", "mul", "max", "min"})
KEY_RANKS = frozenset({"P", "P0", "P1"})
VALUE_INPUTS = frozenset({"V", "CKV"})   # the templates' value inputs (MLA's values are its latent cache)
PROJECTIONS = frozenset({"WUK", "WUV"})  # MLA's absorbed up-projections
MAX_TEXT = 160          # characters of an Einsum quoted in a refusal


@dataclass(frozen=True)
class Template:
    """A reference cascade and what it stands for. `score` is the reference tensor score mods attach to."""
    name: str             # e.g. "grouped/1pass", "mla/1pass", "mha/sigmoid"
    heads: str            # "mha", "grouped" or "mla"
    softmax: str          # "1pass", "2pass", "3pass" or "sigmoid"
    cascade: Cascade
    score: str


@dataclass(frozen=True)
class ScoreMod:
    """One elementwise Einsum on the scores: its ops per score element and the inputs it reads (e.g. a bias)."""
    einsum: str
    ops: FrozenDict
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    """A cascade matched to a template. `roles`: role → the cascade's Einsums (`pre` projections, `qk` score
    GEMMs, `score` mods, `softmax`, `pv` value GEMMs, `normalize`, `post` projections); `inputs`: template input →
    the cascade's input; `mods`: the score mods from the score GEMM outwards."""
    template: Template
    roles: FrozenDict
    inputs: FrozenDict
    mods: tuple[ScoreMod, ...]

    @property
    def bias_inputs(self) -> tuple[str, ...]:
        """The inputs the score mods read."""
        return tuple(dict.fromkeys(name for mod in self.mods for name in mod.inputs))


@lru_cache(maxsize=None)
def templates() -> tuple[Template, ...]:
    """Every template, softmax ones first."""
    out = []
    for heads, (inputs, q, kv) in HEADS.items():
        for softmax in ("1pass", "2pass", "3pass"):
            text = inputs + core(softmax, q, kv)
            out.append(Template(f"{heads}/{softmax}", heads, softmax,
                                workloads.cascade(text, _sizes(heads, softmax != "3pass"),
                                                  name=f"template_{heads}_{softmax}"),
                                "QK" if softmax == "3pass" else "BQK"))
    for softmax in ("1pass", "2pass", "3pass"):
        c = workloads.attention("mla", batch=1, seq=2, seq_kv=4, heads=2, latent=2, rope_dim=2, nope_dim=2,
                                head_dim_v=2, softmax=softmax, key_tile=2)
        out.append(Template(f"mla/{softmax}", "mla", softmax, c, "QK" if softmax == "3pass" else "BQK"))
    for heads, (inputs, q, kv) in HEADS.items():
        for form, text in SIGMOID_CORES.items():
            c = workloads.cascade(inputs + text.format(S="S", q=q, kv=kv), _sizes(heads, form == "sigmoid-tiled"),
                                  name=f"template_{heads}_{form}")
            out.append(Template(f"{heads}/{form}", heads, "sigmoid", c, "S"))
    return tuple(out)


def match(c: Cascade) -> Match | str:
    """The template `c` matches (with its roles), or why it matches none (the closest template's first mismatch)."""
    if not isinstance(c, Cascade):
        return f"expected a workloads.Cascade, got {type(c).__name__} (build one with workloads.attention(...))"
    try:
        return _cached_match(c)
    except TypeError:      # a cascade that does not hash (built by hand with plain dicts): match it uncached
        return _match(c)


@lru_cache(maxsize=256)
def _cached_match(c: Cascade) -> Match | str:
    return _match(c)


def _match(c: Cascade) -> Match | str:
    best = None
    for t in templates():
        u = _Unifier(c, t)
        found = u.run()
        if isinstance(found, Match):
            return found
        if best is None or u.progress > best[0]:
            best = (u.progress, t, found)
    _, t, why = best
    return f"{c.name} does not match any GPU attention template (closest: {t.name}): {why}"


class _Unifier:
    """Unifies one cascade with one template, output first; `progress` counts the Einsums matched so far."""

    def __init__(self, c: Cascade, t: Template):
        self.c, self.t = c, t
        self.made = {e.name: e for e in c.einsums}
        self.ref_made = {e.name: e for e in t.cascade.einsums}
        self.pairs: dict[str, str] = {}      # template tensor → cascade tensor
        self.owner: dict[str, str] = {}      # cascade tensor → template tensor (or the score chain)
        self.mods: list[ScoreMod] = []
        self.gemm = ""                       # the cascade's score GEMM (under its score mods)
        self.progress = 0
        self.failure: tuple[int, str] = (-1, "")

    def run(self) -> Match | str:
        """The match, or the deepest mismatch found."""
        if not self.tensor(self.t.cascade.output, self.c.output):
            return self.failure[1] or f"its output {self.c.output} does not match the template's"
        left = [e.name for e in self.c.einsums if e.name not in self.owner]
        if left:
            e = self.made[left[0]]
            return f"Einsum {_show(e)} is not part of the template"
        unread = [i for i in self.c.inputs if i not in self.owner]
        if unread:
            return f"input {unread[0]} is not read by the template's Einsums"
        if self.t.softmax == "sigmoid" and not any("sigmoid" in m.ops for m in self.mods):
            return "the scores reach PV without a softmax or a sigmoid"
        return Match(self.t, FrozenDict(self.roles()), FrozenDict({r: self.pairs[r] for r in self.t.cascade.inputs}),
                     tuple(reversed(self.mods)))

    def roles(self) -> dict[str, tuple[str, ...]]:
        """Role → the cascade's Einsums, from the template's roles and the score chain."""
        roles: dict[str, list[str]] = {}
        for e in self.t.cascade.einsums:
            target = self.pairs[e.name]
            roles.setdefault(_role(self.t, e), []).append(target)
            if e.name == self.t.score:
                roles.setdefault("score", []).extend(m.einsum for m in reversed(self.mods))
                roles["qk"].remove(target)
                roles["qk"].append(self.gemm)
        return {k: tuple(v) for k, v in roles.items() if v}

    def fail(self, depth: int, message: str) -> bool:
        """Remember the deepest mismatch; always False."""
        if depth > self.failure[0]:
            self.failure = (depth, message)
        return False

    # -- tensors, Einsums, expressions
    def tensor(self, rt: str, ct: str, depth: int = 0) -> bool:
        """Pair template tensor `rt` with cascade tensor `ct` (a bijection), then their producers."""
        if rt in self.pairs:
            return self.pairs[rt] == ct or self.fail(depth, f"{ct} is read where the template reads "
                                                            f"{self.pairs[rt]}'s counterpart {rt}")
        if ct in self.owner:
            return self.fail(depth, f"{ct} plays two roles of the template ({self.owner[ct]} and {rt})")
        self.pairs[rt], self.owner[ct] = ct, rt
        ref = self.t.cascade
        if rt in ref.inputs:
            if ct not in self.c.inputs:
                return self.fail(depth, f"{ct} is computed where the template reads input {rt}")
            if ref.tensors[rt].ranks != self.c.tensors[ct].ranks:
                return self.fail(depth, f"input {ct}{list(self.c.tensors[ct].ranks)} has other ranks than the "
                                        f"template's {rt}{list(ref.tensors[rt].ranks)}")
            return True
        if ct not in self.made:
            return self.fail(depth, f"input {ct} is read where the template computes {_show(self.ref_made[rt])}")
        if rt == self.t.score:
            return self.scores(rt, ct, depth)
        return self.einsum(self.ref_made[rt], self.made[ct], depth)

    def einsum(self, re: Einsum, ce: Einsum, depth: int) -> bool:
        """Same reduction, output indices, initial values and expression."""
        same = (re.reduce == ce.reduce and re.reduce_ranks == ce.reduce_ranks
                and re.output.indices == ce.output.indices
                and _inits(self.t.cascade, re.name) == _inits(self.c, ce.name)
                and self.t.cascade.tensors[re.name].iterative == self.c.tensors[ce.name].iterative)
        if not same or not self.expr(re.expr, ce.expr, depth + 1):
            return self.fail(depth, f"Einsum {_show(ce)} does not match the template's {_show(re)}")
        self.progress += 1
        return True

    def expr(self, rx, cx, depth: int) -> bool:
        """Same expression tree; commutative binary ops in either order."""
        if isinstance(rx, Const):
            return isinstance(cx, Const) and rx.value == cx.value
        if isinstance(rx, Ref):
            return isinstance(cx, Ref) and rx.indices == cx.indices and self.tensor(rx.tensor, cx.tensor, depth)
        if not (isinstance(cx, Call) and cx.op == rx.op and len(cx.args) == len(rx.args)):
            return False
        orders = [cx.args] + ([cx.args[::-1]] if rx.op in COMMUTATIVE and len(cx.args) == 2 else [])
        for args in orders:
            saved = self._save()
            if all(self.expr(r, a, depth) for r, a in zip(rx.args, args)):
                return True
            self._restore(saved)
        return False

    def _save(self):
        return dict(self.pairs), dict(self.owner), list(self.mods), self.progress

    def _restore(self, saved) -> None:
        self.pairs, self.owner, mods, self.progress = dict(saved[0]), dict(saved[1]), saved[2], saved[3]
        self.mods = list(mods)

    # -- the score chain
    def scores(self, rt: str, ct: str, depth: int) -> bool:
        """Peel elementwise score mods off `ct` until an Einsum matches the template's score Einsum."""
        ref = self.ref_made[rt]
        while True:
            ce = self.made.get(ct)
            if ce is None:
                return self.fail(depth, f"the scores are input {ct}, not computed from the queries and keys")
            saved = self._save()
            if self.einsum(ref, ce, depth):
                self.gemm = ce.name
                return True
            self._restore(saved)
            inner = self.mod(ce, ref, depth)
            if inner is None:
                return False
            self.owner.setdefault(inner, f"{rt} (scores)")
            ct = inner

    def mod(self, ce: Einsum, ref: Einsum, depth: int) -> str | None:
        """If `ce` is an elementwise Einsum over the score tile with one score operand, record it and return that
        operand; else None (with the reason)."""
        if ce.reduce is not None or ce.output.indices != ref.output.indices:
            self.fail(depth, f"Einsum {_show(ce)} does not match the template's {_show(ref)}")
            return None
        score_ranks = {i.rank for i in ref.output.indices} | {"P"}
        inner, extra = set(), []
        for r in _refs(ce.expr):
            if r.tensor in self.made and r.indices == ce.output.indices:
                inner.add(r.tensor)
            elif r.tensor in self.c.inputs and {i.rank for i in r.indices} <= score_ranks:
                extra.append(r.tensor)
            else:
                self.fail(depth, f"score mod {_show(ce)} reads {r.tensor}, which is neither the scores nor an "
                                 f"input over the score ranks")
                return None
        if len(inner) != 1:
            self.fail(depth, f"score mod {_show(ce)} must read exactly one score tensor, reads {sorted(inner)}")
            return None
        for name in extra:
            self.owner.setdefault(name, "a score mod's input")
        self.owner.setdefault(ce.name, "a score mod")
        self.mods.append(ScoreMod(ce.name, FrozenDict(point_cost(ce)), tuple(dict.fromkeys(extra))))
        return inner.pop()


def _role(t: Template, e: Einsum) -> str:
    """The role of a template Einsum, from its structure (the template is known, so this is exact)."""
    mac = e.reduce == "sum" and isinstance(e.expr, Call) and e.expr.op == "mul"
    out = {i.rank for i in e.output.indices}
    reads = {r.tensor for r in _refs(e.expr)}
    if e.name == t.score:
        return "qk"
    if mac and reads & VALUE_INPUTS and set(e.reduce_ranks) & KEY_RANKS:
        return "pv"
    if mac and out & KEY_RANKS:
        return "qk"
    if mac and reads & PROJECTIONS:
        names = [x.name for x in t.cascade.einsums]
        return "pre" if names.index(e.name) < names.index(t.score) else "post"
    if isinstance(e.expr, Call) and e.expr.op == "div" and not out & KEY_RANKS:
        return "normalize"
    return "softmax"


def _refs(expr) -> list[Ref]:
    """Every tensor read of an expression, left to right."""
    if isinstance(expr, Ref):
        return [expr]
    return [r for arg in expr.args for r in _refs(arg)] if isinstance(expr, Call) else []


def _inits(c: Cascade, tensor: str) -> tuple[float, ...]:
    return tuple(i.value for i in c.inits if i.tensor == tensor)


def _show(e: Einsum) -> str:
    text = f"{e.name} `{e.text}`"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…`"
