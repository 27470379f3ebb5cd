"""The figures the docs quote, generated so that they cannot drift from what the code gives.

JSON files here are the outputs of the scripts that compute them — `gpu_report.json` (`python
benchmarks/gpu_report.py --json`: the model on the public FlashAttention-2 table, predictions), `fa2_fit.json` (the
refit of the calibrated constants on that table), `fusemax.json` (`python -m validation.fusemax`: the summary of the
full grid and every point), `fusemax_timing.json` (`python benchmarks/fusemax_grid.py --json`: wall times, with the
machine they were taken on). `render` turns them into the markdown blocks between `<!-- generated: NAME -->` markers
in docs/validation.md, docs/gpu-model.md and docs/fusemax.md; `python -m validation.figures` regenerates the JSON and
rewrites the blocks (`--docs-only`: only the blocks; `--check`: exit 1 if a block is stale).
tests/validation/test_figures.py checks that the blocks equal their rendering and that the JSON equals what the code
computes now.
"""
