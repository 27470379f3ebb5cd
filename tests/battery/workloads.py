"""Bad and edge-case inputs of the workloads layer: each must raise CascadeError naming the culprit (and, where
there is one, what would work)."""
import numpy as np

import workloads
from workloads import CascadeError
from workloads.executor import MAX_STEPS

X = "input X[m]\nY[m] = exp(X[m])"
LOOP = "input X[m]\nR[m,p1+1] = max(R[m,p1], X[m])\nR[m,0] = -inf\nY[m] = R[m,P1]"


def casc(text, sizes, **kw):
    return lambda: workloads.cascade(text, sizes, **kw)


def attention(name, **kw):
    return lambda: workloads.attention(name, **kw)


def mha(**kw):
    shape = dict(batch=1, heads=2, seq=8, head_dim=4)
    shape.update(kw)
    return attention("mha", **shape)


def execute(inputs):
    c = workloads.attention("mha", batch=1, heads=1, seq=4, head_dim=2, softmax="3pass")
    ok = {t: np.zeros((1, 1, 4, 2)) for t in c.inputs}
    return lambda: workloads.execute(c, {**ok, **inputs})


def llama(**kw):
    return lambda: workloads.model("llama3-8b").attention(**kw)


def layer(**kw):
    core = workloads.attention("gqa", batch=1, heads=4, kv_heads=2, seq=4, head_dim=4)
    args = dict(model_dim=8, ffn_kind="swiglu", ffn_dim=6)
    args.update(kw)
    return lambda: workloads.layer(core, **args)


HUGE = "B" * 100_000

CASES = [
    # --- names ---------------------------------------------------------------------------------------------------
    ("unicode-rank-variable", casc("input A[m,mi], B[mı]\nZ[m] = A[m,mi] * B[mı]", {"M": 2, "MI": 3}), CascadeError,
     "non-ASCII character 'ı' (names are ASCII letters, digits and _)"),
    ("unicode-size-key", casc(X, {"M": 2, "Mİ": 3}), CascadeError, "rank names are upper case, got 'Mİ'"),
    ("rank-variable-underscore", casc("input X[_m]\nY[_m] = exp(X[_m])", {"_M": 2}), CascadeError,
     "rank variable '_m' must start with a letter"),
    ("name-too-long", casc(f"input X[m]\nY[m] = exp(X[m]) + {HUGE}[m]", {"M": 2}), CascadeError,
     "is longer than 64 characters"),
    ("cascade-name-too-long", casc(X, {"M": 2}, name=HUGE), CascadeError,
     "cascade name must be a str of at most 200 characters"),
    ("rank-size-over-limit", casc(X, {"M": 2 ** 49}), CascadeError, "at most 2^48"),
    # --- builder arguments ---------------------------------------------------------------------------------------
    ("variant-misspelt-argument", attention("mha", num_heads=12, batch=1, seq=4, head_dim=2), CascadeError,
     "'num_heads' (did you mean 'heads'?); valid arguments: batch, heads, seq, head_dim"),
    ("variant-misspelt-name", attention("gqaa", batch=1), CascadeError, "(did you mean 'gqa'?)"),
    ("variant-name-not-a-string", attention(["mha"], batch=1), CascadeError, "unknown attention variant ['mha']"),
    ("model-fixed-argument", llama(seq=1024, heads=16), CascadeError,
     "heads is fixed by the model (heads=32); you may pass seq, batch, seq_kv"),
    ("model-unknown-option", llama(seq=8, seqkv=16), CascadeError, "unknown option 'seqkv' (did you mean 'seq_kv'?)"),
    ("model-misspelt-name", lambda: workloads.model("llama3-8B"), CascadeError, "(did you mean 'llama3-8b'?)"),
    ("local-model-seq-mismatch", lambda: workloads.model("flux").attention(seq=1024), CascadeError,
     "seq=1024 disagrees with the token layout spatial=(256, 256) (65536 tokens)"),
    ("causal-fewer-keys", mha(seq=8, seq_kv=4, causal=True), CascadeError,
     "causal with seq_kv=4 < seq=8 leaves the first 4 queries with no keys"),
    ("causal-fewer-keys-gqa", attention("gqa", batch=1, heads=2, kv_heads=1, seq=3, seq_kv=1, head_dim=2,
                                        causal=True), CascadeError, "give seq_kv ≥ seq"),
    ("blocked-empty-row", attention("blocked", batch=1, heads=1, spatial=6, block=3, keep=((1, 0), (0, 0)),
                                    head_dim=2), CascadeError, "query block 1 attends no key block"),
    ("tpla-alpha-string", attention("tpla", batch=1, seq=1, seq_kv=4, devices=2, alpha="x"), CascadeError,
     "tpla: alpha must be > 0"),
    ("moh-routing-not-a-table", attention("moh", batch=1, heads=4, seq=2, head_dim=2, model_dim=4, shared_heads=1,
                                          top_k=1, accounting="sparse", routing=5), CascadeError,
     "routing must be a [2][4] table"),
    ("numpy-float-size", mha(seq=np.float64(8.0)), CascadeError, "seq must be a positive integer, got 8.0"),
    ("numpy-bool-size", mha(heads=np.bool_(True)), CascadeError, "heads must be a positive integer, got True"),
    # --- layers --------------------------------------------------------------------------------------------------
    ("layer-not-a-cascade", lambda: workloads.layer("mha", model_dim=8, ffn_kind="gelu", ffn_dim=4), CascadeError,
     "layer: expected a Cascade"),
    ("layer-unknown-ffn", layer(ffn_kind="geglu"), CascadeError,
     "unknown ffn 'geglu' (valid: gelu, relu, swiglu, moe)"),
    ("layer-model-dim-zero", layer(model_dim=0), CascadeError, "model_dim must be a positive integer, got 0"),
    ("layer-eps-string", layer(eps="small"), CascadeError, "eps must be a real number in [0, 1)"),
    ("layer-moe-top-k", layer(ffn_kind="moe", moe=workloads.MoE(experts=4, top_k=5)), CascadeError,
     "top_k=5 must be in [1, experts=4]"),
    # --- analysis ------------------------------------------------------------------------------------------------
    ("analysis-not-a-cascade", lambda: workloads.flops("mha"), CascadeError, "points: expected a Cascade"),
    ("passes-not-a-cascade", lambda: workloads.passes(None, "P"), CascadeError, "passes: expected a Cascade"),
    ("dtype-bytes-unknown", lambda: workloads.dtype_bytes("fp4"), CascadeError, "unknown dtype 'fp4'"),
    ("elements-unknown-tensor", lambda: workloads.elements(workloads.gemm(2, 2, 2), "Q"), CascadeError,
     "gemm_2x2x2 has no tensor 'Q'"),
    ("blocks-by-query-tile-over-limit", lambda: workloads.points(workloads.cascade(
        "input Q[m1], K[p]\nsplit m -> m1, m0\nmask m, p: blocks(q_block=65536, kv_block=65536, keep=((1,),))\n"
        "S[m1,p] = Q[m1] * K[p]", {"M": 65536, "P": 65536, "M0": 2})), CascadeError,
     "counting it by query tiles enumerates the 65536×65536 pairs; at most 2^26"),
    ("retile-not-a-split", lambda: workloads.retile(workloads.gemm(2, 2, 2), "P0", 2), CascadeError,
     "retile: 'P0' is not the inner part of a split"),
    # --- execution -----------------------------------------------------------------------------------------------
    ("execute-complex", execute({"K": np.zeros((1, 1, 4, 2), complex)}), CascadeError,
     "input K has dtype complex128; the executor takes real floating, integer or boolean arrays"),
    ("execute-object", execute({"V": np.zeros((1, 1, 4, 2), object)}), CascadeError, "input V has dtype object"),
    ("execute-ragged", execute({"Q": [[1, 2], [3]]}), CascadeError, "input Q is not an array"),
    ("execute-not-a-mapping", lambda: workloads.execute(workloads.gemm(2, 2, 2), [1]), CascadeError,
     "inputs must be a mapping of tensor name to array"),
    ("execute-iterative-points", lambda: workloads.execute(workloads.cascade(LOOP, {"M": 2 ** 25, "P1": 8}),
                                                           {"X": np.zeros(1)}), CascadeError,
     "the iterative rank included"),
    ("execute-iterative-steps", lambda: workloads.execute(workloads.cascade(LOOP, {"M": 1, "P1": MAX_STEPS + 1}),
                                                          {"X": np.zeros(1)}), CascadeError,
     "steps it in Python, at most 2^16"),
    # --- YAML ----------------------------------------------------------------------------------------------------
    ("yaml-einsum-not-an-einsum", lambda: workloads.load("cascade: x\nsizes: {M: 2}\ninputs: {A: [M]}\n"
                                                         "einsums: ['input B[m]']\n"), CascadeError,
     "expected an Einsum statement `NAME[...] = ...`, got an input statement"),
    ("yaml-empty-einsum", lambda: workloads.load("cascade: x\nsizes: {M: 2}\ninputs: {A: [M]}\neinsums: ['']\n"),
     CascadeError, "expected an Einsum statement `NAME[...] = ...`, got nothing"),
]
