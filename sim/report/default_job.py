"""The default job of `python -m sim` (no subcommand): BERT-base attention at 4K tokens, at the FuseMax evaluation's
batch of 64, on H100 and on FuseMax — its roofline on each, then the best mapping `sim.explore` finds on each,
simulated on the engine and set against that bound; printed, and drawn as one two-panel figure."""
from __future__ import annotations

from pathlib import Path

import accel
import workloads

from sim.bounds.rooflines import roofline
from sim.report.plots import plot_rooflines
from sim.search.exploration import explore

# BERT-base attention: 12 heads of dimension 64 (Devlin et al., NAACL 2019), 4096 tokens, batch 64 as in the
# FuseMax evaluation (Nayak et al., MICRO 2024).
BERT_4K = dict(batch=64, heads=12, seq=4096, head_dim=64, softmax="1pass")
ARCHS = ("h100", "fusemax")
FIGURE = "roofline_bert_4k.png"


def default_job(out: str | Path) -> Path:
    """Print the two rooflines and the two simulated best mappings, write their figure as
    `out/roofline_bert_4k.png`; return its path."""
    bert = workloads.attention("mha", **BERT_4K)
    pairs, results = [], []
    for name in ARCHS:
        arch = accel.preset(name)
        roof = roofline(bert, arch)
        print(roof, end="\n\n")
        pairs.append((roof, arch))
    for roof, arch in pairs:
        best = explore(bert, arch).best
        results.append(best)
        print(simulated_line(best, roof))
    path = plot_rooflines(pairs, Path(out) / FIGURE, results)
    print(f"wrote {path}")
    return path


def simulated_line(result, roof) -> str:
    """One line: the best mapping's simulated latency, its ratio to the roofline bound, and the binding unit."""
    busiest = max(result.utilization.items(), key=lambda kv: kv[1], default=("-", 0.0))
    return (f"simulated on {roof.arch}: {result.dataflow} {dict(result.mapping.params)} {result.latency_s * 1e6:.4g} µs "
            f"= {result.latency_s / roof.lower_bound_s:.3g}× the roofline bound; busiest unit {busiest[0]} "
            f"at {busiest[1]:.1%} utilization")
