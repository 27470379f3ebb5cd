"""The measurement suites: each is a function `Env -> list[Case]`, named in SUITES (the `--suite` choices, in order).

`attention` (FlashAttention's benchmark shapes under every SDPA backend), `variants` (GQA/MQA, SQA, CCA, MLA prefill,
MoH), `decode` (GQA and absorbed MLA against long KV caches, SDPA and split-KV), `local` (sliding-window, NA, GNA and
blocked attention through FlexAttention and NATTEN), `gemm` (square and Llama-3-8B projection GEMMs in bf16/fp16/fp8)
and `ceilings` (the copy bandwidth and the matmul rate a "measured" roofline uses).
"""
from __future__ import annotations

from typing import Callable

from validation.harness.cases import Case, Env
from validation.harness.suites.attention import attention_cases
from validation.harness.suites.decode import decode_cases
from validation.harness.suites.gemm import ceilings_cases, gemm_cases
from validation.harness.suites.local import local_cases
from validation.harness.suites.variants import variants_cases

SUITES: dict[str, Callable[[Env], list[Case]]] = {
    "attention": attention_cases,
    "variants": variants_cases,
    "decode": decode_cases,
    "local": local_cases,
    "gemm": gemm_cases,
    "ceilings": ceilings_cases,
}
