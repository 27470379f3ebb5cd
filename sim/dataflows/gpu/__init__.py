"""GPU kernel dataflows: fused attention (FlashAttention-2/-3, cuDNN-style, Blackwell SM100), decode (FlashDecoding,
Blackwell decode, MLA), NATTEN-style GNA and sparse kernels, cuBLAS-like GEMMs, the unfused math path and
elementwise kernels, lowered to tile programs of one SM.

Layers inside, lowest first: `constants` (named and calibrated constants), `machine` (per-SM rates, GPU
generation, occupancy, CTA placement), `template` and `shape` (what an attention cascade must look like, and its
sizes), `costs`, `pieces` and `programs` (per-tile costs, op patterns composed with NumPy, the tile programs),
`fused` (the shared fused-attention lowering), the kernel families (`flash`, `hopper`, `blackwell`, `decode`,
`gna`, `sparse`, `gemm`, `unfused`, `elementwise`), `kernels`, which registers them, and on top `breakdown` (what
each modelled mechanism adds) and `energy` (static power, energy per token and per FLOP).
"""
