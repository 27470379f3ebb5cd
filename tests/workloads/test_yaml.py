"""YAML save/load and text rendering round-trip every registered variant exactly; malformed files raise
CascadeError naming the line and key."""
import pytest

import workloads
from workloads import CascadeError, attention
from workloads.serialize import load, save, to_text

# One small example per registered variant (shared with the fuzzers): a new variant without an example fails
# test_every_variant_has_an_example.
from properties.prop_strategies import VARIANT_EXAMPLES as EXAMPLES


def test_every_variant_has_an_example():
    """The round-trip tests cover the whole registry."""
    assert set(EXAMPLES) == set(workloads.VARIANTS)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_yaml_round_trip_is_exact(name):
    """load(save(c)) == c field by field, and the text form rebuilds the same cascade."""
    c = attention(name, **EXAMPLES[name])
    assert load(save(c)) == c
    assert workloads.cascade(to_text(c), c.sizes, name=c.name, output=c.output, dtype=c.dtype) == c


GOOD = """cascade: tiny
dtype: fp16
output: Z
sizes: {M: 2, N: 3, K: 4}
inputs:
  A: [M, K]
  B: [K, N]
einsums:
- Z[m,n] = A[m,k] * B[k,n]
"""


def test_hand_written_file_loads():
    """A minimal hand-written file (no splits, masks or inits) loads to the GEMM cascade."""
    c = load(GOOD)
    assert c.einsums[0].name == "Z" and workloads.flops(c) == 2 * 2 * 3 * 4


@pytest.mark.parametrize("text,fragment", [
    (GOOD.replace("dtype: fp16\n", "dtype: fp16\ndtype: bf16\n"), "line 3, key dtype: duplicate key 'dtype'"),
    (GOOD.replace("  B: [K, N]\n", "  B: [K, N]\n  A: [K, N]\n"), "line 8, key inputs.A: duplicate key 'A'"),
    (GOOD + "colour: red\n", "line 10, key colour: unknown key 'colour'"),
    (GOOD.replace("inputs:\n  A: [M, K]\n  B: [K, N]\n", ""), "missing required key 'inputs'"),
    (GOOD.replace("N: 3", "N: three"), "line 4, key sizes.N: expected an integer size"),
    (GOOD.replace("Z[m,n] = A[m,k] * B[k,n]", "Z[m,n] = A[m,k] * @B[k,n]"), "line 9, key einsums[0]"),
    (GOOD.replace("Z[m,n] = A[m,k] * B[k,n]", "Z[m,n] = A[m,k] * C[k,n]"), "line 9, key einsums[0]: "),
    (GOOD.replace("einsums:", "masks: [\"m, n: causa\"]\neinsums:"), "key masks[0]"),
    (GOOD.replace("sizes: {M: 2, N: 3, K: 4}", "sizes: [2, 3]"), "line 4, key sizes: expected a mapping"),
    ("cascade: [unclosed\n", "line 2: malformed YAML"),
    ("", "empty YAML document"),
])
def test_malformed_yaml_names_line_and_key(text, fragment):
    """Duplicate, unknown and missing keys, wrong types and bad statements raise CascadeError with line and key."""
    with pytest.raises(CascadeError) as info:
        load(text)
    assert fragment in str(info.value)
