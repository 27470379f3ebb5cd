"""Fuzzing `workloads.backward`: on random small cascades it returns a valid, hashable cascade or raises
CascadeError (bounded message), and what it returns agrees with central finite differences of the forward."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import workloads
from workloads import CascadeError
from workloads.autodiff.rules import BROADCAST, HEAVISIDE, SUPPORTED
from workloads.ops import OPS

from properties.prop_strategies import VARIANT_EXAMPLES

FAST = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
MESSAGE_LIMIT = 2000
SIZES = {"M": 2, "N": 3, "K": 2}
INPUTS = {"A": "m,k", "B": "k,n", "C": "m", "D": "m,n"}
UNARY = ["exp", "tanh", "sigmoid", "silu", "gelu", "relu", "elu", "neg", "sqrt", "rsqrt"]
BINARY = ["+", "-", "*", "/", "max", "min", "sub_exp"]


@st.composite
def expression(draw, tensors: dict[str, str], depth: int = 2) -> str:
    """A random expression text over `tensors` (name -> its index list)."""
    if depth == 0 or draw(st.booleans()):
        if draw(st.integers(0, 6)) == 0:
            return repr(draw(st.sampled_from([0.5, 2.0, 1.0])))
        name = draw(st.sampled_from(sorted(tensors)))
        return f"{name}[{tensors[name]}]"
    if draw(st.booleans()):
        return f"{draw(st.sampled_from(UNARY))}({draw(expression(tensors, depth - 1))})"
    op, a, b = draw(st.sampled_from(BINARY)), draw(expression(tensors, depth - 1)), draw(expression(tensors, depth - 1))
    return f"({a} {op} {b})" if op in "+-*/" else f"{op}({a}, {b})"


@st.composite
def random_cascade(draw):
    """One to three Einsums over the inputs and earlier results; some reduce with max."""
    tensors = dict(INPUTS)
    lines = ["input " + ", ".join(f"{n}[{r}]" for n, r in INPUTS.items())]
    for k in range(draw(st.integers(1, 3))):
        body = draw(expression(tensors))
        out = draw(st.sampled_from(["m", "m,n", "n", "m,k"]))
        if draw(st.integers(0, 3)) == 0:
            body = f"max(k: {body})"
            out = out.replace(",k", "")
        if k and "T" not in body:   # chain: a later Einsum reads an earlier one
            body = f"{body} * T{k - 1}[{tensors[f'T{k - 1}']}]"
        lines.append(f"T{k}[{out}] = {body}")
        tensors[f"T{k}"] = out
    try:
        return workloads.cascade("\n".join(lines), SIZES, name="fuzz")
    except CascadeError:
        assume(False)


def finite_differences(c, inputs, d_out, eps=1e-6):
    """∂(Σ d_out · output)/∂input by central differences, for every input."""
    out = {}
    for name, value in inputs.items():
        grad = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            plus, minus = dict(inputs), dict(inputs)
            plus[name], minus[name] = value.copy(), value.copy()
            plus[name][i] += eps
            minus[name][i] -= eps
            f = lambda x: float(np.sum(workloads.execute(c, x)[c.output] * d_out))
            grad[i] = (f(plus) - f(minus)) / (2 * eps)
        out[name] = grad
    return out


@FAST
@given(random_cascade(), st.integers(0, 2 ** 16))
def test_backward_of_random_cascades_is_valid_and_agrees_with_finite_differences(c, seed):
    try:
        bc = workloads.backward(c)
    except CascadeError as err:
        assert 0 < len(str(err)) <= MESSAGE_LIMIT
        return
    assert hash(bc) == hash(workloads.backward(c)) and workloads.rebuild(bc) == bc
    rng = np.random.default_rng(seed)
    inputs = {n: rng.uniform(0.2, 1.5, [c.sizes[r] for r in c.tensors[n].ranks]) for n in c.inputs}
    forward = workloads.execute(c, inputs)[c.output]
    assume(np.all(np.isfinite(forward)) and np.abs(forward).max() < 1e3)
    d_out = rng.standard_normal(forward.shape)
    got = workloads.execute(bc, {**inputs, "d" + c.output: d_out})
    # Central differences are only the derivative where it exists: no tie in a max (`T_ties` counts the points
    # attaining it) and no infinite slope (sqrt at 0).
    assume(all(np.all(got[t] == 1) for t in bc.tensors if t.endswith("_ties")))
    assume(all(np.all(np.isfinite(got["d" + n])) for n in c.inputs if "d" + n in got))
    expected = finite_differences(c, inputs, d_out)
    for name, grad in expected.items():
        if "d" + name in got:
            np.testing.assert_allclose(got["d" + name], grad, rtol=1e-4, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_allclose(grad, 0, atol=1e-5, err_msg=f"{name} has no gradient yet moves the output")


@pytest.mark.parametrize("op", [op for op in SUPPORTED if op not in (HEAVISIDE, BROADCAST)])
@pytest.mark.parametrize("reduce", ["", "max(k: ", "sum(k: "])
def test_every_derivative_rule_agrees_with_finite_differences(op, reduce):
    args = "A[m,k], B[k,n]" if OPS[op].arity == 2 else "A[m,k] * B[k,n]"
    body = f"{op}({args})"
    text = f"input A[m,k], B[k,n]\nY[m,n{',k' * (not reduce)}] = {reduce}{body}{')' * bool(reduce)}"
    c = workloads.cascade(text, SIZES)
    rng = np.random.default_rng(7)
    low = 0.2 if op in ("sqrt", "rsqrt", "div") else -1.5   # both sides of relu's and elu's kink
    inputs = {n: rng.uniform(low, 1.5, [c.sizes[r] for r in c.tensors[n].ranks]) for n in c.inputs}
    d_out = rng.standard_normal([c.sizes[r] for r in c.tensors["Y"].ranks])
    got = workloads.execute(workloads.backward(c), {**inputs, "dY": d_out})
    for name, grad in finite_differences(c, inputs, d_out).items():
        np.testing.assert_allclose(got["d" + name], grad, rtol=1e-5, atol=1e-6, err_msg=name)


def test_max_splits_its_gradient_evenly_over_ties():
    """As PyTorch's amax: each of the t points attaining the max gets 1/t of the gradient."""
    c = workloads.cascade("input A[m,k]\nY[m] = max(k: A[m,k])", {"M": 2, "K": 3})
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    got = workloads.execute(workloads.backward(c), {"A": a, "dY": np.array([1.0, 3.0])})["dA"]
    np.testing.assert_array_equal(got, [[0, 0.5, 0.5], [1, 1, 1]])


@pytest.mark.parametrize("name", sorted(VARIANT_EXAMPLES))
def test_backward_of_every_variant_example_is_a_cascade_or_a_clear_refusal(name):
    c = workloads.attention(name, **VARIANT_EXAMPLES[name])
    try:
        bc = workloads.backward(c)
    except CascadeError as err:
        assert len(str(err)) <= MESSAGE_LIMIT
        return
    assert {"d" + n for n in c.inputs} & set(bc.tensors)


@FAST
@given(st.one_of(st.none(), st.integers(), st.text(max_size=20), st.just(object()), st.lists(st.integers())))
def test_backward_of_anything_else_is_a_cascade_error(value):
    with pytest.raises(CascadeError, match="backward: expected a Cascade"):
        workloads.backward(value)
