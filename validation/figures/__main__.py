"""`python -m validation.figures [--docs-only | --check] [--timing]`: regenerate the figure files and the docs' blocks.

Without flags: recompute gpu_report.json, fa2_fit.json, fusemax.json and backward.json (its docs/training.md block
with it; about a minute), then rewrite the stale doc blocks. `--timing` also reruns benchmarks/fusemax_grid.py for
fusemax_timing.json (minutes; run it on a quiet machine). `--docs-only` only rewrites the blocks from the committed
JSON; `--check` exits 1 when a block is stale.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from validation.figures.docs import FIGURES, ROOT, stale, write_docs


def _write(stem: str, data: dict) -> None:
    (FIGURES / f"{stem}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


ATTENTION_FIELDS = ("model", "seq", "dataflow", "latency_s", "energy_j", "util_2d", "util_1d", "mapping")
END_TO_END_FIELDS = ("model", "seq", "dataflow", "latency_s", "energy_j", "util_2d", "util_1d")


def fusemax_figures(record: dict) -> dict:
    """The FuseMax summary with each point cut to the fields the docs and the currency test read."""
    return {**record, "attention": [{k: r[k] for k in ATTENTION_FIELDS} for r in record["attention"]],
            "end_to_end": [{k: r[k] for k in END_TO_END_FIELDS} for r in record["end_to_end"]]}


def regenerate(timing: bool) -> None:
    """Recompute every figure file (the timing one only when asked)."""
    from validation.figures.gpu import fit_record, report
    from validation.reproductions import fusemax

    _write("gpu_report", report("h100"))
    _write("fa2_fit", fit_record())
    with tempfile.TemporaryDirectory() as out:
        fusemax.run(Path(out), plots=False)
        _write("fusemax", fusemax_figures(json.loads((Path(out) / "summary.json").read_text())))
    from validation.figures import backward
    record = backward.record()
    _write("backward", record)
    backward.write_doc(record)
    if timing:
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fusemax_grid.py"), "--json",
                        str(FIGURES / "fusemax_timing.json")], check=True)


def main(argv=None) -> int:
    """Regenerate, rewrite or check; see the module docstring."""
    ap = argparse.ArgumentParser(prog="python -m validation.figures", description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--docs-only", action="store_true", help="only rewrite the doc blocks from the JSON")
    mode.add_argument("--check", action="store_true", help="exit 1 if a doc block is stale")
    ap.add_argument("--timing", action="store_true", help="also rerun the FuseMax wall-time benchmark")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale()
        print("stale: " + ", ".join(bad) if bad else "every generated block is current")
        return 1 if bad else 0
    if not args.docs_only:
        regenerate(args.timing)
    changed = write_docs()
    print("rewrote " + (", ".join(changed) if changed else "nothing (every block was current)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
