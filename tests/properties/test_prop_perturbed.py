"""Perturbed attention cascades: every registered dataflow, on every architecture preset, either refuses a
perturbed cascade with a reason or simulates it at or above its roofline with the cascade's op counts as its
actions and at least its compulsory DRAM bytes — never the unperturbed cascade's number.

Perturbations (Hypothesis draws one or two): an extra input on the scores (a bias, a gate), another
nonlinearity on some tensor, a dropped term of an Einsum, a renamed Einsum, an extra rank on every tensor."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import accel
import sim
import workloads
from sim.dataflows.registry import DATAFLOWS
from sim.ir.mapping import MappingError
from workloads.variants.cores import core

from prop_strategies import FAST, SLOW

ARCHS = {name: accel.preset(name) for name in sorted(accel.PRESETS)}
MHA_IN = "input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]\n"
SIZES = {"B": 1, "H": 2, "M": 256, "P": 256, "E": 64, "F": 64}
BASES = {
    "1pass": (MHA_IN + core("1pass", "b,h", "b,h"), {**SIZES, "P0": 128}, "BQK"),
    "3pass": (MHA_IN + core("3pass", "b,h", "b,h"), SIZES, "QK"),
}
NONLINEAR = ("tanh", "sigmoid", "exp", "relu", "gelu", "neg", "silu")
BINARY = {"add": "+", "sub": "-", "mul": "*"}


def statements(text: str) -> list[str]:
    """The Einsum lines of a cascade text (not its initial values)."""
    return [line for line in text.splitlines()
            if re.match(r"^[A-Z][A-Z0-9_]*\[", line) and not re.search(r"[\[,]0[,\]]", line.split(" = ")[0])]


def extra_score_input(text: str, base: str, op: str, ranks: str) -> str:
    """S = Q·K becomes S0 = Q·K; S = S0 <op> X[ranks] (X a new input over some of the score ranks)."""
    old = next((s for s in statements(text) if " = Q[" in s), None)
    if old is None:            # an earlier perturbation dropped the score product
        return text
    lhs = old.split(" = ")[0]
    name, idx = lhs.split("[")[0], lhs[lhs.index("[") + 1:-1]
    fresh = f"X{text.count('input X')}"
    stored = ",".join(r for r in ranks.split(",") if r)   # the input is stored over whole ranks
    read = ",".join("p1,p0" if (r == "p" and base == "1pass") else r for r in ranks.split(",") if r)
    text = text.replace("input ", f"input {fresh}[{stored}], ", 1)
    new = old.replace(f"{name}[", f"{fresh}S[", 1) + f"\n{lhs} = {fresh}S[{idx}] {BINARY[op]} {fresh}[{read}]"
    return text.replace(old, new, 1)


def nonlinearity(text: str, index: int, fn: str) -> str:
    """Einsum T = e becomes T_PRE = e; T = fn(T_PRE) (a pointwise function inserted after any Einsum)."""
    lines = [s for s in statements(text) if "=" in s and "+1]" not in s.split("=")[0]]
    old = lines[index % len(lines)]
    lhs = old.split(" = ")[0]
    name = lhs.split("[")[0]
    pre = lhs.replace(f"{name}[", f"{name}PRE[", 1)
    return text.replace(old, f"{pre} = {old.split(' = ', 1)[1]}\n{lhs} = {fn}({pre})", 1)


def drop_term(text: str, index: int) -> str:
    """`T = A op B` becomes `T = A` (or `= B`): a term of an Einsum dropped."""
    lines = [s for s in statements(text) if re.search(r" [-+*/] ", s.split(" = ", 1)[1])]
    old = lines[index % len(lines)]
    lhs, rhs = old.split(" = ", 1)
    keep = re.split(r" [-+*/] ", rhs, maxsplit=1)[index % 2]
    keep = keep.strip("()") if keep.count("(") != keep.count(")") else keep
    return text.replace(old, f"{lhs} = {keep}", 1)


def rename(text: str, index: int) -> str:
    names = sorted({s.split("[")[0] for s in statements(text)})
    name = names[index % len(names)]
    return re.sub(rf"\b{name}\[", f"{name}RN[", text).replace(f"output {name}\n", f"output {name}RN\n")


def extra_rank(text: str) -> str:
    """Every tensor gains a leading rank L after B (attention over one more batch-like rank)."""
    return text.replace("[b,", "[b,l,")


@st.composite
def perturbed(draw):
    base = draw(st.sampled_from(sorted(BASES)))
    text, sizes, _ = BASES[base]
    sizes = dict(sizes)
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["input", "nonlinear", "drop", "rename", "rank"]))
        if kind == "input":
            ranks = draw(st.sampled_from(["h,m,p", "b,h,m,p", "m,p", "p", "h", "b,h,m"]))
            text = extra_score_input(text, base, draw(st.sampled_from(sorted(BINARY))), ranks)
        elif kind == "nonlinear":
            text = nonlinearity(text, draw(st.integers(0, 20)), draw(st.sampled_from(NONLINEAR)))
        elif kind == "drop":
            text = drop_term(text, draw(st.integers(0, 20)))
        elif kind == "rename":
            text = rename(text, draw(st.integers(0, 20)))
        elif "L" not in sizes:
            text, sizes = extra_rank(text), {**sizes, "L": 2}
    try:
        return workloads.cascade(text, sizes, name="perturbed")
    except workloads.CascadeError:
        assume(False)


def check(name: str, c) -> None:
    """Refused with a reason, or simulated at/above the roofline with op counts conserved, on every preset."""
    df = DATAFLOWS[name]
    for arch in ARCHS.values():
        why = df.supports(c, arch)
        if why is not None:
            assert isinstance(why, str) and 0 < len(why) <= 2000, why
            continue
        try:
            bound = sim.roofline(c, arch).lower_bound_s
        except MappingError as err:   # no unit of the arch runs one of its ops: nothing can simulate it
            pytest.fail(f"{name} accepted a cascade no unit of {arch.name} can run: {err}")
        r = sim.evaluate(c, arch, name)
        assert r.latency_s >= bound * (1 - 1e-9), (name, arch.name, r.latency_s, bound)
        assert r.dram_bytes >= workloads.compulsory_bytes(c) * (1 - 1e-9), (name, arch.name)
        actions = DATAFLOWS[name].lower(c, arch, r.mapping).actions
        per_op: dict[str, float] = {}
        for key, n in actions.items():
            if "register" not in key:
                per_op[key.split(".", 1)[1]] = per_op.get(key.split(".", 1)[1], 0) + n
        assert per_op == pytest.approx(dict(workloads.total_ops(c))), (name, arch.name)
        assert set(r.per_einsum) <= {e.name for e in c.einsums}


@pytest.mark.parametrize("name", sorted(DATAFLOWS))
@settings(max_examples=max(FAST // 20, 3), deadline=None, suppress_health_check=list(HealthCheck))
@given(c=perturbed())
def test_perturbed_cascades_are_refused_or_right(name, c):
    """Every dataflow × preset: a perturbed cascade is refused with a reason or simulated right."""
    check(name, c)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DATAFLOWS))
@settings(max_examples=SLOW // 10, deadline=None, suppress_health_check=list(HealthCheck))
@given(c=perturbed())
def test_perturbed_cascades_are_refused_or_right_slow(name, c):
    check(name, c)


@pytest.mark.parametrize("kind", ["score bias", "score nonlinearity", "renamed"])
def test_gpu_kernels_run_the_perturbations_they_support(kind):
    """Score-side extras and renamed Einsums are run by the fused GPU kernels (not refused wholesale), with the
    extra work costed: a bias or a nonlinearity on the scores is slower than plain attention."""
    text, sizes, _ = BASES["1pass"]
    if kind == "score bias":
        text = extra_score_input(text, "1pass", "add", "h,m,p")
    elif kind == "score nonlinearity":
        text = nonlinearity(text, 0, "tanh")
    else:
        text = rename(text, 3)
    c, plain = workloads.cascade(text, dict(sizes), name=kind), workloads.cascade(BASES["1pass"][0], sizes)
    h100 = ARCHS["h100"]
    for name in ("flash2", "flash3"):
        assert DATAFLOWS[name].supports(c, h100) is None
        check(name, c)
        a, b = sim.evaluate(c, h100, name).latency_s, sim.evaluate(plain, h100, name).latency_s
        assert a > b if kind != "renamed" else a == b
