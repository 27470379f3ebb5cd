"""Reference data the comparison is checked against: published measurements transcribed as CSV with their loaders
(`fa2_public`: FlashAttention-2 and unfused attention on H100/A100) and, once a GPU campaign has run, the harness CSVs
of each measured device (`<gpu>_<date>/`, described in README.md). Data only: imports nothing from sim."""
