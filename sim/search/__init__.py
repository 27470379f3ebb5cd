"""Search over mappings and architectures: `explore` (the best mapping of one workload on one architecture, the one
place a mapping parameter is searched) and `sweep` (explore over a workload × architecture grid on any executor).

Modules, lowest first: `records` (candidates, tables, explorations), `pareto` (the one Pareto front), `progress`
(the one progress bar), `candidates` (lower, bound and simulate one mapping; the memo), `spaces` (a dataflow's
search space), `trials` (planning, pruning and batches of one exploration), `strategy` (exhaustive or steepest
descent), `exploration` (`explore`), `sweeps` (`sweep`, `arch_variants`).
"""
