"""GPU kernel dataflows: fused attention (FlashAttention-2/-3, cuDNN-style), decode, GNA, GEMM, unfused math."""
