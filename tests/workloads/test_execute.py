"""The executor is the executable spec: the three softmax cores must compute attention exactly."""
import numpy as np
import pytest
import torch

import workloads
from workloads import CascadeError

SHAPES = [  # (batch, heads, queries, keys, head_dim, head_dim_v, key_tile)
    (1, 2, 7, 7, 4, 5, 3),      # sequence not a multiple of the key tile
    (2, 1, 5, 13, 3, 3, 4),     # decode-like: fewer queries than keys, padded last tile
    (1, 3, 16, 16, 8, 8, 16),   # one tile
    (2, 2, 9, 20, 6, 4, 7),
]


def sdpa(q, k, v, causal):
    mask = None
    if causal:
        m, p = q.shape[-2], k.shape[-2]
        mask = torch.tensor(np.arange(p)[None, :] <= np.arange(m)[:, None] + (p - m))
    return torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=mask, scale=1.0).numpy()


@pytest.mark.parametrize("softmax", ["3pass", "2pass", "1pass"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_cores_equal_sdpa(softmax, causal, shape):
    """Each core, with and without a causal mask, equals SDPA in float64 to 1e-10 (scale folded into Q)."""
    b, h, m, p, e, f, tile = shape
    c = workloads.attention("mha", batch=b, heads=h, seq=m, seq_kv=p, head_dim=e, head_dim_v=f, causal=causal,
                            softmax=softmax, key_tile=None if softmax == "3pass" else tile)
    rng = np.random.default_rng(hash((softmax, causal, shape)) % 2 ** 32)
    q, k, v = rng.standard_normal((b, h, m, e)), rng.standard_normal((b, h, p, e)), rng.standard_normal((b, h, p, f))
    out = workloads.execute(c, {"Q": q, "K": k, "V": v})[c.output]
    assert out.shape == (b, h, m, f)
    np.testing.assert_allclose(out, sdpa(q, k, v, causal), rtol=0, atol=1e-10)


def test_execute_returns_every_tensor_and_iterative_state():
    """Every computed tensor is returned; iterative tensors keep their initial point and the final running max
    equals the global max (the 1-pass cascade is exact)."""
    c = workloads.attention("mha", batch=1, heads=1, seq=6, head_dim=3, softmax="1pass", key_tile=2)
    rng = np.random.default_rng(1)
    env = workloads.execute(c, {n: rng.standard_normal((1, 1, 6, 3)) for n in ("Q", "K", "V")})
    assert set(env) >= {e.name for e in c.einsums}
    assert env["RM"].shape == (1, 1, 6, 4)          # P1 = 3 iterations + the initial point
    assert np.all(env["RM"][..., 0] == -np.inf)
    np.testing.assert_allclose(env["RM"][..., -1], env["BQK"].max(axis=(-2, -1)))


def test_execute_rejects_bad_inputs():
    """Missing inputs and wrong shapes name the tensor."""
    c = workloads.attention("mha", batch=1, heads=1, seq=4, head_dim=2, softmax="3pass")
    with pytest.raises(CascadeError, match="missing inputs"):
        workloads.execute(c, {"Q": np.zeros((1, 1, 4, 2))})
    with pytest.raises(CascadeError, match="input K has shape"):
        workloads.execute(c, {"Q": np.zeros((1, 1, 4, 2)), "K": np.zeros((1, 1, 5, 2)), "V": np.zeros((1, 1, 4, 2))})


def test_masked_tiles_are_skipped_not_nan():
    """A sliding window leaves whole key tiles masked for some rows: the 1-pass cascade skips them (no NaN)."""
    text = """input Q[b,h,m,e], K[b,h,p,e], V[b,h,p,f]
mask m, p: window(left=2, right=0)
""" + workloads.variants.core("1pass", "b,h", "b,h")
    c = workloads.cascade(text, {"B": 1, "H": 1, "M": 12, "P": 12, "E": 3, "F": 2, "P0": 4})
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((1, 1, 12, 3)), rng.standard_normal((1, 1, 12, 3)), rng.standard_normal((1, 1, 12, 2))
    out = workloads.execute(c, {"Q": q, "K": k, "V": v})["AV"]
    mask = torch.tensor((np.arange(12)[None, :] <= np.arange(12)[:, None]) &
                        (np.arange(12)[None, :] >= np.arange(12)[:, None] - 2))
    ref = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                           attn_mask=mask, scale=1.0).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_gemm():
    """The plain GEMM cascade multiplies matrices."""
    c = workloads.gemm(5, 3, 4)
    a, b = np.arange(20.0).reshape(5, 4), np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(workloads.execute(c, {"A": a, "B": b})["Z"], a @ b)


def test_tensor_stored_split_is_read_whole():
    """A tensor written over (p1, p0) is read back over p: the two axes merge and the padding is dropped."""
    text = """input X[p]
split p -> p1, p0
Y[p1,p0] = X[p1,p0] * 2
Z[p] = Y[p] + 1
"""
    c = workloads.cascade(text, {"P": 7, "P0": 3})
    env = workloads.execute(c, {"X": np.arange(7.0)})
    assert env["Y"].shape == (3, 3)
    np.testing.assert_allclose(env["Z"], 2 * np.arange(7.0) + 1)
    assert workloads.points(c) == {"Y": 7, "Z": 7}
