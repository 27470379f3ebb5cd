"""GPU kernel dataflows: fused attention (FlashAttention-2/-3, cuDNN-style), decode (FlashDecoding, MLA),
NATTEN-style GNA, cuBLAS-like GEMMs and the unfused math path, lowered to tile programs of one SM.

Layers inside, lowest first: `constants` (named and calibrated constants), `machine` (per-SM rates, occupancy,
CTA placement), `template` and `shape` (what an attention cascade must look like, and its sizes), `costs` and
`programs` (per-tile costs and the tile programs), `fused` (the shared fused-attention lowering), the kernel
families (`flash`, `decode`, `gna`, `gemm`, `unfused`), and `kernels`, which registers them.
"""
