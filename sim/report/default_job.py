"""The default job of `python -m sim` (no subcommand): the roofline of BERT-base attention at 4K tokens, at the
FuseMax evaluation's batch of 64, on H100 and on FuseMax — printed, and drawn as one two-panel figure."""
from __future__ import annotations

from pathlib import Path

import accel
import workloads

from sim.bounds.rooflines import roofline
from sim.report.plots import plot_rooflines

# BERT-base attention: 12 heads of dimension 64 (Devlin et al., NAACL 2019), 4096 tokens, batch 64 as in the
# FuseMax evaluation (Nayak et al., MICRO 2024).
BERT_4K = dict(batch=64, heads=12, seq=4096, head_dim=64, softmax="1pass")
ARCHS = ("h100", "fusemax")
FIGURE = "roofline_bert_4k.png"


def default_job(out: str | Path) -> Path:
    """Print the two rooflines and write their figure as `out/roofline_bert_4k.png`; return its path."""
    bert = workloads.attention("mha", **BERT_4K)
    pairs = []
    for name in ARCHS:
        arch = accel.preset(name)
        roof = roofline(bert, arch)
        print(roof, end="\n\n")
        pairs.append((roof, arch))
    path = plot_rooflines(pairs, Path(out) / FIGURE)
    print(f"wrote {path}")
    return path
