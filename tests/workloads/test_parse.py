"""The Einsum language: what it accepts, and a clear CascadeError naming the Einsum and token for what it rejects."""
import pytest

import workloads
from workloads import CascadeError

SIZES = {"M": 4, "P": 6, "E": 3, "F": 2}
GOOD = """input Q[m,e], K[p,e], V[p,f]
QK[m,p] = Q[m,e] * K[p,e]
GM[m] = max(p: QK[m,p])
SN[m,p] = exp(QK[m,p] - GM[m])
SD[m] = SN[m,p]
A[m,p] = SN[m,p] / SD[m]
AV[m,f] = A[m,p] * V[p,f]"""


def test_good_cascade_parses_with_implied_sum_and_named_max():
    """Ranks only on the right are sum-reduced unless a reduce op is named; the output defaults to the last Einsum."""
    c = workloads.cascade(GOOD, SIZES)
    by_name = {e.name: e for e in c.einsums}
    assert by_name["SD"].reduce == "sum" and by_name["SD"].reduce_ranks == ("P",)
    assert by_name["GM"].reduce == "max"
    assert by_name["QK"].reduce == "sum" and by_name["QK"].reduce_ranks == ("E",)
    assert by_name["SN"].reduce is None
    assert c.output == "AV" and c.inputs == ("Q", "K", "V")


def test_user_op_and_comments():
    """A registered user op can be used; `#` starts a comment."""
    c = workloads.cascade("input X[m], Y[m]  # two vectors\nZ[m] = sub_exp(X[m], Y[m])", {"M": 3})
    assert workloads.total_ops(c) == {"sub": 3, "exp": 3}


BAD = [  # (text, sizes, message fragment)
    ("input Q[m,e]\nZ[m] = Q[m,e] * W[m,e]", {"M": 2, "E": 2}, "undefined tensor 'W'"),
    ("input Q[m,e], K[p,e]\nZ[m,p] = Q[m,e] * K[m,e]", {"M": 2, "P": 3, "E": 2}, "rank used with two sizes"),
    ("input Q[m,e]\nZ[m,x] = Q[m,e]", {"M": 2, "E": 2, "X": 2}, "rank X on the left (token 'x') is not bound"),
    ("input X[m]\nA[m] = B[m] + X[m]\nB[m] = A[m] * X[m]", {"M": 2}, "cycle between Einsums"),
    ("input X[m]\nY[m] = softmaxx(X[m])", {"M": 2}, "unknown op 'softmaxx'"),
    ("input K[p,e]\nsplit p -> p1, p0\nZ[p1,p0] = K[p1,p0,e]", {"P": 8, "P0": 3, "P1": 2, "E": 2},
     "does not fit"),
    ("input K[p,e]\nsplit p -> p1, p0\nZ[p1,p0] = K[p1,p0,e]", {"P": 4, "P0": 8, "E": 2}, "does not fit"),
    ("input X[m]\nY[m] = exp(X[m])", {"M": 2}, None),  # placeholder replaced below (output check)
    ("input X[m]\nY[m] = X[m] +", {"M": 2}, "ends too early"),
    ("input X[m]\nY[m] = X[m] $ 2", {"M": 2}, "unexpected character '$'"),
    ("input X[m,p]\nY[m] = max(e: X[m,p])", {"M": 2, "P": 2}, "names the wrong ranks"),
    ("input X[m]\nY[m] = X[m]\nY[m] = X[m] * 2", {"M": 2}, "already produced by another Einsum"),
    ("input X[m]\nY[m] = X[m,m]", {"M": 2}, "more indices than X's ranks"),
    ("input X[m]\nR[m,p1+1] = max(R[m,p1], X[m])", {"M": 2, "P1": 3}, "has no initial value"),
    ("input X[m]\nY[m] = exp(X[m])", {"M": 0}, "sizes must be ≥ 1"),
    ("input X[m]\nY[m] = exp(X[m])", {"M": 2, "Q": 3}, "rank Q is given a size but no statement uses it"),
    ("input X[m]\nY[m] = exp(X[e])", {"M": 2}, "rank E (token 'e') has no size"),
    ("input X[m], K[p]\nmask m, p: windw(left=1)\nY[m] = X[m]", {"M": 2, "P": 2}, "unknown mask kind 'windw'"),
    ("input Q[m], K[p]\nmask m, p: gna(spatial=(4,), window=(2,), stride=(3,))\nS[m,p] = Q[m] * K[p]",
     {"M": 4, "P": 4}, "stride 3 > window 2"),
    ("input X[m]\nY[m] = exp(max(m: X[m]))", {"M": 2}, "must be the whole right-hand side"),
    ("input X[m], Y[m]\nZ[m] = exp(X[m], Y[m])", {"M": 2}, "op 'exp' takes 1 argument(s), got 2"),
]


@pytest.mark.parametrize("text, sizes, fragment", [b for b in BAD if b[2] is not None])
def test_malformed_cascades_raise_named_errors(text, sizes, fragment):
    """Each malformed cascade raises CascadeError (a ValueError) whose message names the problem."""
    with pytest.raises(CascadeError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")
                       .replace("$", r"\$")) as info:
        workloads.cascade(text, sizes)
    assert isinstance(info.value, ValueError)


def test_output_nothing_produces():
    """Naming an output that no Einsum produces is an error."""
    with pytest.raises(CascadeError, match="output X: no Einsum produces it"):
        workloads.cascade("input X[m]\nY[m] = exp(X[m])", {"M": 2}, output="X")
    with pytest.raises(CascadeError, match="output Z: no Einsum produces it"):
        workloads.cascade("input X[m]\nY[m] = exp(X[m])", {"M": 2}, output="Z")


def test_error_names_the_einsum():
    """Errors inside an Einsum quote the statement."""
    with pytest.raises(CascadeError, match=r"Einsum SN `SN\[m,p\] = exp\(QK\[m,p\] - GQ\[m\]\)`"):
        workloads.cascade(GOOD.replace("- GM[m]", "- GQ[m]"), SIZES)


def test_attention_rejects_bad_parameters():
    """Unknown variants list the valid ones; bad shapes and softmax names are named."""
    with pytest.raises(CascadeError, match="unknown attention variant 'mhaa'.*valid: .*mha"):
        workloads.attention("mhaa", batch=1, heads=1, seq=4, head_dim=2)
    with pytest.raises(CascadeError, match="heads must be a positive integer"):
        workloads.attention("mha", batch=1, heads=0, seq=4, head_dim=2)
    with pytest.raises(CascadeError, match="unknown softmax '4pass'"):
        workloads.attention("mha", batch=1, heads=1, seq=4, head_dim=2, softmax="4pass")
    with pytest.raises(CascadeError, match="key_tile=8 is larger than the key length 4"):
        workloads.attention("mha", batch=1, heads=1, seq=4, head_dim=2, key_tile=8)
