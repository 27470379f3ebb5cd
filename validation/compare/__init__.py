"""Simulated versus measured: match every measured row to the simulated kernel that models it, and report the errors.

    python -m validation.compare FILE.csv ... --out DIR [--fit] [--device-kind h100|h200|a100|b200]

Modules, lowest first (each imports only those before it): `points` (rows of the harness CSV or the public table as
`Point`s), `match` (which cascade and dataflow model a row's backend, or why none does), `calibration` (which
constants are fitted on which subset: calibration vs held-out), `simulate` (one point simulated with
`sim.evaluate`, calibrated constants passed as `Options(calibration=...)`), `fit` (refitting those constants),
`pipeline` (every point, roles, optional fit), `summaries` and `pairs` (errors per group, speedup pairs), `report`
(report.md), `files` (CSV, JSON, figures), `cli` (the command line).

Errors: time error = simulated / measured − 1; TFLOP/s error = measured / simulated time − 1 (the row's own FLOP count
converts both times to rates).
"""
