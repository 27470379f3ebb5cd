"""Pure functions over cascades: passes, op counts (per-row counts of the FuseMax cores), bytes, footprint."""
import math

import numpy as np
import pytest

import workloads
from workloads import masks


@pytest.mark.parametrize("softmax, expected", [("3pass", 3), ("2pass", 2), ("1pass", 1)])
def test_passes_of_the_cores(softmax, expected):
    """FuseMax's taxonomy: the cores make 3, 2 and 1 passes over the key rank, causal or not."""
    for causal in (False, True):
        c = workloads.attention("mha", batch=1, heads=2, seq=64, head_dim=8, softmax=softmax, causal=causal)
        assert workloads.passes(c, "P") == expected


def test_passes_gemm_and_other_ranks():
    """A GEMM makes one pass over its reduction rank; a rank nothing traverses needs no pass."""
    assert workloads.passes(workloads.gemm(8, 8, 8), "K") == 1
    c = workloads.attention("mha", batch=1, heads=1, seq=16, head_dim=4, softmax="3pass")
    assert workloads.passes(c, "E") == 1


def test_passes_with_division_deferral_is_two():
    """3-pass + division deferral (Einsums 31–32) merges passes 2 and 3."""
    text = """input Q[m,e], K[p,e], V[p,f]
QK[m,p] = Q[m,e] * K[p,e]
GM[m] = max(p: QK[m,p])
SN[m,p] = exp(QK[m,p] - GM[m])
SD[m] = SN[m,p]
SNV[m,f] = SN[m,p] * V[p,f]
AV[m,f] = SNV[m,f] / SD[m]"""
    c = workloads.cascade(text, {"M": 4, "P": 8, "E": 2, "F": 2})
    assert workloads.passes(c, "P") == 2


@pytest.mark.parametrize("softmax", ["3pass", "2pass", "1pass"])
def test_op_counts_equal_closed_forms(softmax):
    """Per-row op counts of each core × B·H·M, with P1 = ⌈P/P0⌉ (here P is a multiple of P0)."""
    b, h, m, p, e, f, p0 = 2, 3, 48, 64, 16, 8, 16
    p1 = p // p0
    c = workloads.attention("mha", batch=b, heads=h, seq=m, seq_kv=p, head_dim=e, head_dim_v=f, softmax=softmax,
                            key_tile=None if softmax == "3pass" else p0)
    rows = b * h * m
    expected = {
        "3pass": {"mac": (e + f) * p, "max": p, "sub": p, "exp": p, "add": p, "div": p},
        "2pass": {"mac": (e + f) * p + p1, "max": p + p1, "sub": p + p1, "exp": p + p1, "add": p, "mul": p,
                  "div": p},
        "1pass": {"mac": (e + f) * p, "max": p + p1, "sub": p + p1, "exp": p + p1, "add": p + p1 + f * p1,
                  "mul": p1 + f * p1, "div": f},
    }[softmax]
    assert workloads.total_ops(c) == {op: n * rows for op, n in expected.items()}
    assert workloads.flops(c) == 2 * workloads.total_ops(c)["mac"]


def test_causal_counts_use_attended_pairs_and_visited_tiles():
    """Masked rows: P → Π_row and P1 → visited key tiles per row; prefill Π = L(L+1)/2."""
    L, p0 = 64, 16
    c = workloads.attention("mha", batch=1, heads=1, seq=L, head_dim=4, causal=True, softmax="1pass", key_tile=p0)
    pts = workloads.points(c)
    assert pts["LM"] == L * (L + 1) // 2
    assert pts["RM"] == sum(math.ceil((m + 1) / p0) for m in range(L))
    assert pts["BQK"] == 4 * L * (L + 1) // 2
    decode = workloads.attention("mha", batch=1, heads=1, seq=1, seq_kv=100, head_dim=4, causal=True,
                                 softmax="3pass")
    assert workloads.points(decode)["GM"] == 100   # decode: Π = N


def test_pair_and_tile_counts_match_enumeration():
    """Mask counts equal brute force on random NATTEN configurations (1-D to 3-D)."""
    rng = np.random.default_rng(0)
    for _ in range(60):
        dims = int(rng.integers(1, 4))
        spatial = tuple(int(x) for x in rng.integers(2, 8, dims))
        window, stride, dilation, causal = [], [], [], []
        for n in spatial:
            d = int(rng.integers(1, 3)) if n >= 4 else 1
            w = int(rng.integers(1, n // d + 1))
            window.append(w), stride.append(int(rng.integers(1, w + 1))), dilation.append(d)
            causal.append(bool(rng.integers(0, 2)))
        mask = workloads.Neighborhood("M", "P", spatial, tuple(window), tuple(stride), tuple(dilation), tuple(causal))
        n = math.prod(spatial)
        dense = masks.dense(mask, n, n)
        assert masks.pair_count(mask, n, n) == dense.sum()
        tile = int(rng.integers(1, n + 1))
        padded = np.zeros((n, -(-n // tile) * tile), dtype=bool)
        padded[:, :n] = dense
        assert masks.tile_count(mask, n, n, tile) == padded.reshape(n, -1, tile).any(axis=2).sum()


def test_non_causal_neighborhood_sees_exactly_window_keys():
    """NATTEN: every query sees exactly prod(window) keys; stride = window gives disjoint blocks."""
    mask = workloads.Neighborhood("M", "P", (9, 7), (3, 5), (1, 2), (1, 1), (False, False))
    assert (masks.dense(mask, 63, 63).sum(axis=1) == 15).all()
    blocked = masks.dense(workloads.Neighborhood("M", "P", (8,), (4,), (4,), (1,), (False,)), 8, 8)
    assert (blocked == np.kron(np.eye(2, dtype=bool), np.ones((4, 4), dtype=bool))).all()
    causal = masks.dense(workloads.Neighborhood("M", "P", (10,), (4,), (1,), (1,), (True,)), 10, 10)
    assert list(causal.sum(axis=1)) == [min(i + 1, 4) for i in range(10)]


def test_bytes_and_footprint():
    """Compulsory bytes read Q, K, V once and write the output once; the 1-pass per-row footprint does not grow
    with the key length while the 3-pass one does."""
    b, h, m, e = 2, 3, 128, 16
    c = workloads.attention("mha", batch=b, heads=h, seq=m, head_dim=e)
    assert workloads.compulsory_bytes(c) == 2 * b * h * m * e * 4
    assert workloads.compulsory_bytes(c, "fp32") == 2 * workloads.compulsory_bytes(c)
    row = ("B", "H", "M")
    small = {s: workloads.footprint(workloads.attention("mha", batch=1, heads=1, seq=n, head_dim=8, softmax=s,
                                                        key_tile=32 if s != "3pass" else None), per=row)
             for s in ("1pass", "3pass") for n in [256]}  # noqa: B035
    large = {s: workloads.footprint(workloads.attention("mha", batch=1, heads=1, seq=1024, head_dim=8, softmax=s,
                                                        key_tile=32 if s != "3pass" else None), per=row)
             for s in ("1pass", "3pass")}
    assert large["1pass"] == small["1pass"]
    assert large["3pass"] > 3 * small["3pass"]
