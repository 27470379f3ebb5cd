"""The measurement harness: times real kernels on a GPU (or, for smoke tests, the CPU) and writes one self-describing
CSV row per case.

Standalone on purpose: it imports only the standard library, numpy, torch and its own modules — never `sim`, `accel`
or `workloads` — so that it runs on a device machine with nothing but PyTorch (`tests/validation/test_layout.py`
checks this). `measure` is the command line (`python -m validation.measure`), `cases` the case record and its runner,
`timing` CUDA-event / CUDA-graph / wall-clock timing with L2-defeating buffer rotation, `devinfo` read-only device
metadata, `counts` the FLOP and byte counts, `gna` NATTEN's mask predicate, `suites` the cases, `summary` the
campaign's short table.
"""
