"""Fuzzing the input boundaries: Einsum text (token soup and mutations of valid cascades), cascade sizes, YAML
cascade files (mutated text and mutated documents) and `accel.from_dict` (mutated and generated structures).

The only exceptions allowed to escape are the documented error types, and their messages must say where the
problem is (a line, an Einsum, a statement kind, a key path)."""
from __future__ import annotations

import copy
import math
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

import accel
import workloads
from accel import ArchError
from workloads import CascadeError
from workloads.serialize import load, save

from properties.prop_strategies import VARIANT_EXAMPLES as EXAMPLES

FAST, SLOW = 150, 3000
fast = settings(max_examples=FAST, deadline=None, suppress_health_check=list(HealthCheck))
slow = settings(max_examples=SLOW, deadline=None, suppress_health_check=list(HealthCheck))

# ---- the Einsum language -------------------------------------------------------------------------------------

VALID = [
    (workloads.attention("mha", batch=1, heads=2, seq=5, head_dim=3, causal=True, softmax=s), s)
    for s in ("1pass", "2pass", "3pass")
]
TEXTS = []
for _c, _ in VALID:
    from workloads.serialize import to_text
    TEXTS.append((to_text(_c), dict(_c.sizes)))
TEXTS.append(("input Q[m], K[p]\nmask m, p: gna(spatial=(2, 3), window=(2, 2), stride=(1, 2), dilation=(1, 1), "
              "causal=(0, 1))\nS[m,p] = Q[m] * K[p]", {"M": 6, "P": 6}))
TEXTS.append(("input Q[m], K[p]\nmask m, p: blocks(q_block=2, kv_block=2, keep=((1, 0), (1, 1)))\n"
              "S[m,p] = Q[m] * K[p]", {"M": 4, "P": 4}))

TOKENS = ["input", "split", "mask", "output", "->", "[", "]", "(", ")", ",", ":", "=", "+", "-", "*", "/", "#",
          "p", "p1", "p0", "m", "e", "b", "P1", "M", "0", "1", "2", "X", "Q", "K", "V", "AV", "max", "sum", "exp",
          "sub_exp", "inf", "1e400", "1.5", "9" * 30, "causal", "window(left=1, right=0)", "window(left=-1)",
          "gna(spatial=(4,), window=(2,))", "blocks(q_block=1, kv_block=1, keep=((1,),))", "$", "@", "\t", "é",
          "\n", "  "]
LOCATION = re.compile(r"line \d+|Einsum \w+|sizes|split|mask|input|output|cascade|iterative|rank|dtype|execute")


def assert_named(err: Exception) -> None:
    message = str(err)
    assert message and LOCATION.search(message), f"message does not say where: {message!r}"


def build_or_named_error(text, sizes) -> None:
    try:
        workloads.cascade(text, sizes)
    except CascadeError as err:
        assert_named(err)


token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=30).map(" ".join)


@st.composite
def mutated_text(draw):
    text, sizes = draw(st.sampled_from(TEXTS))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        j = draw(st.integers(0, len(lines) - 1))
        line = lines[j]
        k = draw(st.integers(0, len(line)))
        op = draw(st.integers(0, 5))
        if op == 0:
            line = line[:k] + line[k + 1:]
        elif op == 1:
            line = line[:k] + draw(st.sampled_from(TOKENS)) + line[k:]
        elif op == 2:
            line = line[:k] + draw(st.characters(min_codepoint=32, max_codepoint=0x2FF)) + line[k:]
        elif op == 3 and len(lines) > 1:
            lines.pop(j)
            continue
        elif op == 4:
            lines.insert(j, draw(st.sampled_from(lines)))
            continue
        else:
            line = line.replace(draw(st.sampled_from(["p1", "p0", "m", "e", "f", "+1", "P1", "max", "exp", "*"])),
                                draw(st.sampled_from(["p", "q", "", "+2", "M", "sum", "foo", "/"])), 1)
        lines[j] = line
    sizes = dict(sizes)
    if draw(st.booleans()):
        rank = draw(st.sampled_from(sorted(sizes) + ["X", "p"]))
        sizes[rank] = draw(st.sampled_from([0, -1, 1, 2, 7, 2 ** 40, 1.5, "4", None, True]))
    return "\n".join(lines), sizes


@fast
@given(token_soup, st.dictionaries(st.sampled_from(["M", "P", "P0", "P1", "E", "X"]), st.integers(-2, 9)))
def test_parser_token_soup_raises_only_cascade_errors(text, sizes):
    """Random token sequences either build or raise CascadeError saying where."""
    build_or_named_error(text, sizes)


@fast
@given(mutated_text())
def test_parser_mutations_raise_only_cascade_errors(case):
    """Character, token, line and rename mutations of valid cascades (with bad sizes) either build or raise
    CascadeError saying where."""
    build_or_named_error(*case)


@pytest.mark.slow
@slow
@given(st.one_of(st.tuples(token_soup, st.just({"M": 2, "P": 3})), mutated_text()))
def test_parser_fuzz_slow(case):
    build_or_named_error(*case)


@fast
@given(st.text(max_size=80), st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.floats(),
                                                                             st.text(max_size=3), st.none())))
def test_parser_arbitrary_text_and_sizes(text, sizes):
    """Arbitrary unicode text and size dictionaries of arbitrary values raise only CascadeError."""
    build_or_named_error(text, sizes)


@pytest.mark.parametrize("text", ["(" * 3000 + "X[m]" + ")" * 3000, "-" * 5000 + "X[m]", "exp(" * 2000 + "X[m]"
                                  + ")" * 2000])
def test_deep_nesting_is_a_cascade_error(text):
    """Pathologically nested expressions give a CascadeError, not a RecursionError."""
    with pytest.raises(CascadeError, match="nested too deeply|line 2"):
        workloads.cascade("input X[m]\nY[m] = " + text, {"M": 2})


# ---- YAML cascade files ----------------------------------------------------------------------------------------

SAVED = [save(c) for c, _ in VALID] + [
    save(workloads.attention("gna", batch=1, heads=2, spatial=(3, 4), window=(2, 3), head_dim=2)),
    save(workloads.attention("blocked", batch=1, heads=1, spatial=5, block=3, keep=((1, 0), (1, 1)), head_dim=2)),
]
DOCS = [yaml.safe_load(s) for s in SAVED]
YAML_CHARS = list(" :-[]{},'\"\n#&*!|>%@`?.xP01") + ["!!python/name:os.system", "&a", "*a", "!P", "- ", ": "]


@st.composite
def mutated_yaml_text(draw):
    text = draw(st.sampled_from(SAVED))
    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.integers(0, len(text)))
        op = draw(st.integers(0, 2))
        if op == 0:
            text = text[:k] + text[k + 1:]
        elif op == 1:
            text = text[:k] + draw(st.sampled_from(YAML_CHARS)) + text[k:]
        else:
            lines = text.splitlines()
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
            text = "\n".join(lines)
    return text


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 2 ** 41), st.floats(), st.text(max_size=8),
              st.sampled_from(["M", "P1", "-.inf", "X[m] = Y[m]", "m, p: causal", "P[p]"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=6)


@st.composite
def mutated_yaml_doc(draw):
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    key = draw(st.sampled_from(sorted(doc) + ["colour"]))
    op = draw(st.integers(0, 2))
    if op == 0 or key not in doc:
        doc[key] = draw(yaml_values)
    elif op == 1:
        del doc[key]
    elif isinstance(doc[key], dict) and doc[key]:
        inner = draw(st.sampled_from(sorted(doc[key])))
        doc[key][inner] = draw(yaml_values)
    elif isinstance(doc[key], list) and doc[key]:
        doc[key][draw(st.integers(0, len(doc[key]) - 1))] = draw(yaml_values)
    return yaml.safe_dump(doc, sort_keys=False)


def load_or_named_error(text) -> None:
    try:
        c = load(text)
    except CascadeError as err:
        assert str(err)
        return
    assert load(save(c)) == c  # whatever loads, round-trips


@fast
@given(st.one_of(mutated_yaml_text(), mutated_yaml_doc()))
def test_yaml_loader_fuzz_raises_only_cascade_errors(text):
    """Mutated YAML text and documents (wrong types, missing/unknown keys, tags, aliases) either load (and then
    round-trip) or raise CascadeError."""
    load_or_named_error(text)


@pytest.mark.slow
@slow
@given(st.one_of(mutated_yaml_text(), mutated_yaml_doc(), st.text(max_size=200)))
def test_yaml_loader_fuzz_slow(text):
    load_or_named_error(text)


# ---- accel.from_dict -------------------------------------------------------------------------------------------

PRESET_DICTS = [accel.to_dict(accel.preset(name)) for name in sorted(accel.PRESETS)]
arch_values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10), st.sampled_from([0, 2 ** 63 + 1, 10 ** 400, -(10 ** 30)]),
    st.floats(), st.text(max_size=6), st.sampled_from(["DRAM", "2d", "x y", ""]),
    st.lists(st.integers(-2, 300), max_size=3), st.dictionaries(st.text(max_size=4), st.floats(), max_size=2),
    st.just({"mac": 1}), st.just([{"name": "L"}]))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_arch(draw):
    d = copy.deepcopy(draw(st.sampled_from(PRESET_DICTS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(d))
        path = draw(st.sampled_from(paths))
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.integers(0, 3))
        if op == 0:   # values are deep-copied: a later mutation must not edit a shared `st.just` object
            parent[path[-1]] = copy.deepcopy(draw(arch_values))
        elif op == 1:
            del parent[path[-1]]
        elif op == 2 and isinstance(parent, dict):
            key = draw(st.sampled_from(["bogus", "fanout", "pes", "count", "capacity_bytes"]))
            parent[key] = copy.deepcopy(draw(arch_values))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[0]))
    return d


def from_dict_or_named_error(d) -> None:
    try:
        arch = accel.from_dict(d)
    except ArchError as err:
        assert str(err).startswith("arch"), f"message does not name the path: {err}"
        return
    assert accel.from_dict(accel.to_dict(arch)) == arch
    for u in arch.units:
        assert accel.pe_count(arch, u) >= 1


@fast
@given(mutated_arch())
def test_from_dict_mutations_raise_only_arch_errors(d):
    """Replaced, deleted, added and duplicated keys/entries of preset dicts either build (and round-trip) or raise
    ArchError whose message starts with the offending path."""
    from_dict_or_named_error(d)


generated_arch = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b c", ""]), "clock_hz": arch_values,
     "levels": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["DRAM", "GB", "DRAM"]),
                                               "capacity_bytes": arch_values, "bandwidth_bytes_per_s": arch_values},
                                              optional={"fanout": arch_values, "latency_cycles": arch_values}),
                        max_size=3),
     "units": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["pe", "DRAM"]),
                                              "level": st.sampled_from(["DRAM", "GB", "nowhere"]),
                                              "pes": arch_values, "ops_per_cycle": arch_values}), max_size=2)},
    optional={"measured": arch_values, "notes": arch_values, "launch_overhead_s": arch_values})


@fast
@given(generated_arch)
def test_from_dict_generated_structures_raise_only_arch_errors(d):
    """Generated structures with values of every type either build or raise ArchError naming the path."""
    from_dict_or_named_error(d)


@pytest.mark.slow
@slow
@given(st.one_of(mutated_arch(), generated_arch))
def test_from_dict_fuzz_slow(d):
    from_dict_or_named_error(d)


# ---- attention variants and model builders ---------------------------------------------------------------------

VARIANT_EXAMPLES = {k: v for k, v in EXAMPLES.items() if k in workloads.VARIANTS}
bad_values = st.sampled_from([0, -1, 1, 3, 2 ** 20, 2.5, "4", None, True, (), (0,), (2, 2), ((1,),), "3pass", "fp7",
                              "absorbed", [[1, 0]], 10 ** 30])


@st.composite
def variant_request(draw):
    name = draw(st.sampled_from(sorted(VARIANT_EXAMPLES)))
    kwargs = dict(VARIANT_EXAMPLES[name])
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.integers(0, 2))
        key = draw(st.sampled_from(sorted(kwargs) + ["softmax", "key_tile", "dtype", "kv_heads", "bogus"]))
        if op == 0:
            kwargs[key] = draw(bad_values)
        elif op == 1:
            kwargs.pop(key, None)
        else:
            kwargs["bogus_" + key] = 1
    return name, kwargs


def build_variant_or_named_error(request) -> None:
    name, kwargs = request
    try:
        workloads.attention(name, **kwargs)
    except CascadeError as err:
        assert str(err)


@fast
@given(variant_request())
def test_variant_builders_raise_only_cascade_errors(request):
    """Every registered attention variant, with values replaced by bad ones, keys dropped or unknown keys added,
    either builds or raises CascadeError."""
    build_variant_or_named_error(request)


@pytest.mark.slow
@slow
@given(variant_request())
def test_variant_builders_fuzz_slow(request):
    build_variant_or_named_error(request)


@fast
@given(st.sampled_from(["bert", "llama3-8b", "deepseek-v3", "flux", "gpt5"]),
       st.one_of(st.none(), st.integers(-2, 64), st.just(2.5)), st.integers(-1, 3),
       st.dictionaries(st.sampled_from(["causal", "bogus", "softmax", "form", "key_tile"]), bad_values, max_size=2))
def test_model_builders_raise_only_cascade_errors(name, seq, batch, options):
    """`workloads.models.model_attention` with bad seq, batch and options raises only CascadeError."""
    from workloads.models.zoo import model, model_attention
    try:
        model_attention(model(name), seq=seq, batch=batch, **options)
    except CascadeError as err:
        assert str(err)


# ---- architecture files given to the command line -------------------------------------------------------------

@st.composite
def arch_file_text(draw):
    text = yaml.safe_dump(draw(mutated_arch()), sort_keys=False)
    for _ in range(draw(st.integers(0, 2))):
        k = draw(st.integers(0, len(text)))
        text = text[:k] + draw(st.sampled_from(YAML_CHARS)) + text[k + 1:]
    return text


def load_arch_file_or_cli_error(tmp_dir, text, suffix) -> None:
    from sim.report.cli import CLIError, load_arch
    path = tmp_dir / f"arch{suffix}"
    path.write_text(text)
    try:
        load_arch(str(path))
    except CLIError as err:
        assert str(err).startswith("--arch: ")


@fast
@given(arch_file_text(), st.sampled_from([".yaml", ".json"]))
def test_cli_arch_files_raise_only_cli_errors(tmp_path_factory, text, suffix):
    """Mutated arch files (YAML, or YAML text named .json) either load or give the CLI's `--arch: ...` error."""
    load_arch_file_or_cli_error(tmp_path_factory.mktemp("arch"), text, suffix)


def test_fuzzed_variants_cover_the_registry():
    """Every registered attention variant has an example for the fuzzers (add one when adding a variant)."""
    assert sorted(set(workloads.VARIANTS) - set(VARIANT_EXAMPLES)) == []
