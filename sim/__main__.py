"""`python -m sim`: with no subcommand, the built-in default job — a roofline of BERT-base attention at 4K tokens on
H100 and FuseMax; with one, the command line in `sim.cli` (`python -m sim --help`)."""
from __future__ import annotations

import sys
from pathlib import Path

import accel
import workloads

from sim.report.plots import plot_rooflines
from sim.bounds.rooflines import roofline


def default_job(out: Path) -> Path:
    # BERT-base attention core at the FuseMax evaluation's batch 64: 12 heads, head dim 64, 4096 tokens.
    bert = workloads.attention("mha", batch=64, heads=12, seq=4096, head_dim=64, softmax="1pass")
    pairs = []
    for name in ("h100", "fusemax"):
        arch = accel.preset(name)
        roof = roofline(bert, arch)
        print(roof, end="\n\n")
        pairs.append((roof, arch))
    path = plot_rooflines(pairs, Path(out) / "roofline_bert_4k.png")
    print(f"wrote {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    from sim.report.cli import main as cli_main
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
