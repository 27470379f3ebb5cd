"""Search over mappings and architectures: `explore` (one workload on one architecture) and `sweep` (a grid of
them on any executor)."""
