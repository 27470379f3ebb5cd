"""Fuzzing the public workloads API beyond the parsers: builder, model and layer arguments of every type (NumPy
scalars and arrays, floats, huge and negative integers, strings, containers, None), executor inputs, sizes and
Unicode names. Only CascadeError may escape, its message stays bounded, and whatever is accepted is a valid,
hashable cascade that equals a rebuild of itself."""
from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import workloads
from workloads import CascadeError
from workloads.canonical import structure
from workloads.models.zoo import MODELS

from properties.prop_strategies import VARIANT_EXAMPLES

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
MESSAGE_LIMIT = 2000

ODD_VALUES = st.one_of(
    st.integers(-3, 20), st.integers(2 ** 40, 2 ** 70), st.sampled_from([np.int64(4), np.int32(2), np.uint8(3),
                                                                         np.bool_(True), np.float64(2.0)]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.none(), st.booleans(),
    st.lists(st.integers(-1, 5), max_size=3), st.tuples(st.integers(1, 4), st.integers(1, 4)),
    st.just(np.array([2, 2])), st.just(np.array(3)), st.just({"a": 1}), st.just(object()), st.just("x" * 5000),
)


def only_cascade_errors(call) -> object | None:
    """Run `call`; a CascadeError must carry a bounded message; any other exception fails the test."""
    try:
        return call()
    except CascadeError as err:
        assert 0 < len(str(err)) <= MESSAGE_LIMIT, str(err)[:300]
        return None


def check_accepted(c) -> None:
    """An accepted cascade is hashable, pickles, rebuilds to itself and counts without error."""
    if c is None:
        return
    assert isinstance(c, workloads.Cascade)
    assert hash(c) == hash(pickle.loads(pickle.dumps(c)))
    assert workloads.rebuild(c) == c
    workloads.points(c)
    assert structure(c) == structure(workloads.rebuild(c))


@st.composite
def builder_request(draw):
    name = draw(st.sampled_from(sorted(VARIANT_EXAMPLES)))
    kwargs = dict(VARIANT_EXAMPLES[name])
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(kwargs) + ["softmax", "key_tile", "causal", "dtype", "seq_kv", "bogus"]))
        kwargs[key] = draw(ODD_VALUES)
    return name, kwargs


@FAST
@given(builder_request())
def test_builders_take_any_values_and_raise_only_cascade_errors(request):
    name, kwargs = request
    check_accepted(only_cascade_errors(lambda: workloads.attention(name, **kwargs)))


@pytest.mark.slow
@SLOW
@given(builder_request())
def test_builders_take_any_values_slow(request):
    name, kwargs = request
    check_accepted(only_cascade_errors(lambda: workloads.attention(name, **kwargs)))


@st.composite
def model_request(draw):
    name = draw(st.sampled_from(sorted(MODELS)))
    m = workloads.model(name)
    local = m.variant in ("na", "gna")
    kwargs = dict(spatial=(4, 4), window=(3, 3)) | ({"stride": (2, 2)} if m.variant == "gna" else {}) if local \
        else dict(seq=draw(st.integers(1, 8)), seq_kv=draw(st.sampled_from([None, 8, 16])))
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(["seq", "batch", "seq_kv", "heads", "causal", "softmax", "key_tile", "form",
                                    "dtype", "spatial", "window", "latent", "nope"]))
        kwargs[key] = draw(ODD_VALUES)
    return m, draw(st.sampled_from(["attention", "layer"])), kwargs


@FAST
@given(model_request())
def test_model_builders_take_any_values_and_raise_only_cascade_errors(request):
    m, what, kwargs = request
    check_accepted(only_cascade_errors(lambda: getattr(m, what)(**kwargs)))


LAYER_ARGS = ("model_dim", "ffn_kind", "ffn_dim", "norm_kind", "post_norm", "rope", "eps", "q_lora", "name")


@st.composite
def layer_request(draw):
    core = draw(st.sampled_from(["gqa", "mha", "mla", "sliding"]))
    attention = workloads.attention(core, **VARIANT_EXAMPLES[core] | ({"causal": False} if core == "mla" else {}))
    kwargs = dict(model_dim=8, ffn_kind=draw(st.sampled_from(["gelu", "relu", "swiglu", "moe"])), ffn_dim=6)
    if kwargs["ffn_kind"] == "moe":
        kwargs["moe"] = workloads.MoE(experts=4, top_k=2, expert_dim=3, shared_dim=3)
    for _ in range(draw(st.integers(0, 2))):
        kwargs[draw(st.sampled_from(LAYER_ARGS))] = draw(ODD_VALUES)
    return attention, kwargs


@FAST
@given(layer_request())
def test_layer_takes_any_values_and_raises_only_cascade_errors(request):
    attention, kwargs = request
    check_accepted(only_cascade_errors(lambda: workloads.layer(attention, **kwargs)))


EXEC = workloads.attention("mha", batch=1, heads=1, seq=3, head_dim=2, causal=True, key_tile=2)

arrays = st.one_of(
    st.sampled_from([np.float64, np.float32, np.float16, np.int8, np.int64, np.uint16, bool, complex, object,
                     "U3", "datetime64[s]"]).map(lambda dt: np.zeros((1, 1, 3, 2), dtype=dt)),
    st.lists(st.integers(0, 4), max_size=5).map(lambda shape: np.zeros(shape)),
    ODD_VALUES, st.just([[1.0, 2.0], [3.0]]),
)


@FAST
@given(st.dictionaries(st.sampled_from(["Q", "K", "V", "W", "q"]), arrays, max_size=4))
def test_execute_takes_any_inputs_and_raises_only_cascade_errors(inputs):
    base = {t: np.zeros((1, 1, 3, 2)) for t in EXEC.inputs}
    out = only_cascade_errors(lambda: workloads.execute(EXEC, {**base, **inputs}))
    if out is not None:
        assert out["AV"].shape == (1, 1, 3, 2) and np.isrealobj(out["AV"])


NAMES = st.text(alphabet=st.sampled_from(list("mpqMPQ_01ıİéßſKk") + ["\u212a"]), min_size=1, max_size=4)


@FAST
@given(NAMES, NAMES, st.dictionaries(NAMES, st.integers(1, 4), max_size=3))
def test_unicode_names_never_alias(a, b, sizes):
    """Any mix of look-alike letters: a cascade is built only from ASCII names, with distinct ranks kept apart."""
    text = f"input X[{a},{b}]\nY[{a}] = X[{a},{b}]"
    c = only_cascade_errors(lambda: workloads.cascade(text, sizes))
    if c is not None:
        assert all(r.isascii() for r in c.sizes) and all(t.isascii() for t in c.tensors)
        if a.upper() != b.upper():   # two ranks: Y sums over the second one, never multiplies them
            assert workloads.total_ops(c) == {"add": c.sizes[a.upper()] * c.sizes[b.upper()]}


@FAST
@given(st.sampled_from(sorted(VARIANT_EXAMPLES)), st.data())
def test_renaming_tensors_keeps_the_structure(name, data):
    """`structure` ignores names: every tensor renamed through a random bijection gives an equal structure (and
    an unequal cascade)."""
    c = workloads.attention(name, **VARIANT_EXAMPLES[name])
    names = sorted(c.tensors)
    fresh = data.draw(st.permutations([f"T{k}X" for k in range(len(names))]))
    mapping = dict(zip(names, fresh))
    text = workloads.to_text(c)
    renamed = re.sub(r"\b([A-Za-z_]\w*)(?=\[)", lambda mt: mapping.get(mt.group(1), mt.group(1)), text)
    renamed = re.sub(r"^output (\w+)", lambda mt: "output " + mapping[mt.group(1)], renamed, flags=re.M)
    other = workloads.cascade(renamed, c.sizes, name=c.name, dtype=c.dtype)
    assert structure(other) == structure(c) and other != c


def test_structure_ignores_sizes_and_names_but_not_computation():
    """Sizes and names do not change a structure; another softmax core, mask, op or input does."""
    mha = lambda **kw: workloads.attention("mha", **{**dict(batch=1, heads=2, seq=8, head_dim=4), **kw})
    assert structure(mha()) == structure(mha(seq=64, heads=8, head_dim=16)) and hash(structure(mha())) == hash(
        structure(mha(seq=64)))
    assert structure(mha(seq=64)).sizes != structure(mha()).sizes
    for other in (mha(softmax="3pass"), mha(causal=True), mha(dtype="bf16"),
                  workloads.attention("gqa", batch=1, heads=2, kv_heads=1, seq=8, head_dim=4)):
        assert structure(other) != structure(mha())
