"""Short summary table of measurement CSVs: `python -m validation.harness.summary FILE.csv ...` (campaign.sh)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from validation.harness.cases import STATUSES


def _best(rows: list[dict], **match: str) -> dict | None:
    ok = [r for r in rows if r["status"] == "ok" and all(r.get(k) == v for k, v in match.items())]
    key = "tflops" if any(r["tflops"] for r in ok) else "gbps"
    ok = [r for r in ok if r[key]]
    return max(ok, key=lambda r: float(r[key])) if ok else None


def summarize(paths: list[Path]) -> str:
    """Rows per status per file, the device, and the best ok row of each kind."""
    lines = [f"{'file':28s} {'rows':>5s} " + " ".join(f"{s:>11s}" for s in STATUSES)]
    all_rows: list[dict] = []
    for p in paths:
        try:
            rows = list(csv.DictReader(p.open(newline="")))
        except OSError as exc:
            lines.append(f"{p.name:28s} unreadable: {exc}")
            continue
        all_rows += rows
        lines.append(f"{p.name:28s} {len(rows):5d} " + " ".join(f"{sum(r['status'] == s for r in rows):11d}"
                                                              for s in STATUSES))
    if all_rows:
        r0 = all_rows[0]
        lines.append(f"device: {r0['device_name']} ({r0['sm_count']} SMs, L2 {r0['l2_bytes']} B), torch {r0['torch']}, "
                     f"CUDA {r0['cuda']}, cuDNN {r0['cudnn']}, driver {r0['driver']}")
    lines.append("highlights (best ok row of each kind):")
    picks = [("copy GB/s (read+write)", dict(form="copy")),
             ("ceiling matmul bf16", dict(suite="ceilings", form="gemm")),
             ("gemm fp8", dict(suite="gemm", dtype="float8_e4m3fn")),
             ("gemm bf16", dict(suite="gemm", dtype="bfloat16"))]
    picks += [(f"attention {b}", dict(suite="attention", backend_requested=f"sdpa_{b}"))
              for b in ("flash", "cudnn", "efficient", "math")]
    picks += [("decode split-kv", dict(suite="decode", backend_requested="split_kv_torch")),
              ("local flex", dict(suite="local", backend_requested="flex_compiled"))]
    for label, match in picks:
        r = _best(all_rows, **match)
        if r is None:
            lines.append(f"  {label:26s} -")
            continue
        rate = f"{float(r['tflops']):8.1f} TFLOP/s" if r["tflops"] else f"{float(r['gbps']):8.1f} GB/s"
        lines.append(f"  {label:26s} {rate}  {r['time_ms']:>10s} ms  {r['case']} {r['dtype']} ({r['timing_mode']})")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize([Path(a) for a in sys.argv[1:]]))
