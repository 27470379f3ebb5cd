"""The `attention` suite: FlashAttention's benchmark shapes (Dao, "FlashAttention-2", 2023: B·S = 16K tokens, hidden
2048, H = 2048/D) under every SDPA backend and both half-precision dtypes, plus long sequences."""
from __future__ import annotations

from validation.harness.cases import Case, Env
from validation.harness.suites.sdpa import ALL_BACKENDS, sdpa_case

def attention_cases(env: Env) -> list[Case]:
    """FlashAttention's benchmark shapes (B·S = 16K tokens, hidden 2048) with every backend pinned, plus long sequences."""
    if env.quick:
        tokens, hidden, seqs, dims, long = 512, 256, (128, 256), (64,), [(1, 2, 1024, 64)]
    else:
        tokens, hidden, seqs, dims = 16384, 2048, (512, 1024, 2048, 4096, 8192, 16384), (64, 128, 256)
        long = [(1, 16, 32768, 128), (1, 16, 65536, 128)]
    cases = []
    for backend in ALL_BACKENDS:
        for dtype in ("float16", "bfloat16"):
            for d in dims:
                for causal in (False, True):
                    for s in seqs:
                        b, h = tokens // s, hidden // d
                        cases.append(sdpa_case("attention", f"fa_bench_d{d}{'_causal' if causal else ''}_s{s}", dtype,
                                               backend, b, h, h, s, s, d, causal=causal))
        for b, h, s, d in long:
            for causal in (False, True):
                cases.append(sdpa_case("attention", f"long_b{b}_h{h}_s{s}{'_causal' if causal else ''}", "bfloat16",
                                       backend, b, h, h, s, s, d, causal=causal))
    return cases
