"""Validation: the simulator checked against measurements and published evaluations.

Subpackages, lowest first: `harness` (times real kernels on a GPU; standalone: torch and numpy only), `data` (reference
data: the public FlashAttention-2 table and its loader, measured CSVs), `compare` (simulated versus measured, the
calibration/held-out split and the refit), `reproductions` (the FuseMax evaluation), `figures` (the generated figures
the docs quote). Entry points: `python -m validation.measure`, `python -m validation.compare`, `python -m
validation.fusemax`, `bash validation/campaign.sh`.
"""
