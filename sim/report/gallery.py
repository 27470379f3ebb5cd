"""`python -m sim report`: a gallery of every figure kind `sim` draws, from small built-in examples, with an index.

Every figure comes from registered dataflows through `sim.evaluate` — the modelled ones and the two illustrative
`example-*` dataflows (`sim.dataflows.examples`). Figures that compare against measurements are drawn by the
validation package into `validation/` below the gallery (`sim` reads no measured data); the index links to them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import accel
import workloads
from accel import Arch

import sim
from sim.bounds.area import area_mm2
from sim.bounds.rooflines import roofline
from sim.dataflows.registry import verdicts
from sim.evaluation import evaluate
from sim.ir.result import Result
from sim.report import plots
from sim.report.traced import traced

FAMILIES = ("mha", "gqa", "mqa", "mla", "sqa", "gna")    # the variants drawn on the variant roofline
SEQS = (512, 1024, 2048, 4096, 8192)                    # the utilization-versus-length figure
SMALL = dict(batch=1, heads=2, seq=2048, head_dim=64)   # the gallery's example workload (MHA, 2 heads × 2K × 64)
TIMELINE_DATAFLOW = "fusemax"
FIGURES = ("roofline_fusemax.png", "roofline_h100_variants.png", "timeline.png", "utilization_vs_seq.png",
           "einsum_share.png", "stalls.png", "speedup_energy.png", "pareto.png")
VALIDATION = "validation"       # the folder (below the gallery) the validation package writes its figures into
VALIDATION_COMMAND = "python -m validation.compare validation/data/fa2_h100_public.csv --out {out}/validation"


def runs(arch: Arch, seq: int) -> dict[str, Result]:
    """Label → Result for MHA (1×2 heads×64) at `seq`: every dataflow that runs the 1-pass cascade, then those that
    only run the 3-pass one (labelled "(3-pass)", e.g. the unfused baseline), each with its default plan."""
    shape = {**SMALL, "seq": seq}
    one, three = (workloads.attention("mha", softmax=s, **shape) for s in ("1pass", "3pass"))
    out = {n: evaluate(one, arch, n) for n, why in verdicts(one, arch).items() if why is None}
    for n, why in verdicts(three, arch).items():
        if why is None and n not in out:
            out[f"{n} (3-pass)"] = evaluate(three, arch, n)
    return out


def variant_roofs(arch: Arch, heads: int = 32, head_dim: int = 128, seq: int = 4096) -> dict[str, object]:
    """Rooflines of the registered variants among `FAMILIES`, prefill (query length = seq) and decode (one query
    against `seq` keys; not for GNA, whose queries are the whole layout). MLA uses DeepSeek-V3's shape, naive for
    prefill and absorbed for decode; GNA a 64×64 layout with a 16×16 window."""
    def shape(name: str, q: int) -> dict:
        common = {"batch": 1, "seq": q, "seq_kv": seq}
        return {"mha": {**common, "heads": heads, "head_dim": head_dim},
                "mqa": {**common, "heads": heads, "head_dim": head_dim},
                "gqa": {**common, "heads": heads, "head_dim": head_dim, "kv_heads": 8},
                "sqa": {**common, "heads": heads, "head_dim": head_dim, "setting": "xsqa"},
                "mla": {**common, "form": "naive" if q > 1 else "absorbed"},
                "gna": {"batch": 1, "heads": heads, "head_dim": head_dim, "spatial": (64, 64), "window": (16, 16)},
                }[name]
    out = {}
    for name in [v for v in FAMILIES if v in workloads.VARIANTS]:
        for phase, q in (("prefill", seq), ("decode", 1)):
            if name == "gna" and phase == "decode":
                continue
            out[f"{name.upper()} {phase}"] = roofline(workloads.attention(name, **shape(name, q)), arch)
    return out


def mini_sweep() -> list[dict]:
    """A small design sweep as table records: PE-array size × DRAM bandwidth on FuseMax, each spatial dataflow
    that supports the 1-pass example workload, with its default plan."""
    c = workloads.attention("mha", softmax="1pass", **SMALL)
    gib = 2 ** 30
    rows = []
    for arch in sim.arch_variants(accel.preset("fusemax"), array=[64, 128, 256],
                                  dram_bytes_per_s=[200 * gib, 800 * gib]):
        pes, bw = arch.units[0].pes[0], arch.levels[0].bandwidth_bytes_per_s / gib
        for name, why in verdicts(c, arch).items():
            if why is None:
                r = evaluate(c, arch, name)
                rows.append({"arch": arch.name, "dataflow": name, "label": f"{name} {pes}², {bw:.0f} GiB/s",
                             "latency_s": r.latency_s, "energy_j": r.energy_j, "area_mm2": area_mm2(arch)})
    return rows


def _roofline_figures(out: Path, results: dict, add) -> None:
    fusemax, h100 = accel.preset("fusemax"), accel.preset("h100")
    small = workloads.attention("mha", softmax="1pass", **SMALL)
    roof = roofline(small, fusemax)
    kernels = [(r, roof.ops) for r in results.values()]     # (the 3-pass cascade does < 1% more ops)
    add(plots.plot_roofline(fusemax, out / FIGURES[0], roof=roof, results=kernels),
        f"Roofline of `{small.name}` (1×2 heads×2K tokens×64) on FuseMax: compute roofs per unit, DRAM roof, ridge "
        "point; each Einsum alone (unfused bytes), the fused cascade at its lower bound, and each simulated kernel at "
        "its achieved rate (ops / DRAM bytes, ops / latency).")
    add(plots.plot_roofline(h100, out / FIGURES[1], variants=variant_roofs(h100),
                            title="attention variants on h100 (32 heads × 128, 4K keys; at their roofline bounds)"),
        "Roofline of H100: tensor-core, FMA and SFU compute roofs, HBM/L2/SMEM memory roofs, datasheet (solid, "
        "dashed) and measured (dotted) ceilings, ridge points; each registered attention variant in prefill (4K "
        "queries) and decode (1 query) at its lower bound.")


def _unit_figures(out: Path, results: dict, add) -> None:
    fusemax = accel.preset("fusemax")
    small = workloads.attention("mha", softmax="1pass", **SMALL)
    trace = traced(small, fusemax, results[TIMELINE_DATAFLOW])
    add(plots.plot_timeline(trace, out / FIGURES[2], title=f"{TIMELINE_DATAFLOW} on fusemax"),
        "Timeline from the engine's trace (`sim.evaluate(..., options=sim.Options(trace=True, extrapolate=False))`): "
        "the whole run as a strip of each unit's busy fraction, and below it a Gantt chart of three steady-state "
        "periods (found as the repeating pattern of the busiest unit), coloured by Einsum or kernel phase.")
    series: dict[str, list] = {}
    for seq in SEQS:
        for n, r in runs(fusemax, seq).items():
            series.setdefault(n, []).append((seq, r))
    add(plots.plot_utilization_vs_seq(series, out / FIGURES[3],
                                      title="utilization versus sequence length on fusemax (MHA, 2 heads × 64)"),
        "Utilization (useful work ÷ capacity, `Result.utilization`) of each unit kind versus sequence length, one "
        "line per dataflow.")
    add(plots.plot_einsum_share(results, out / FIGURES[4]),
        "Each Einsum's share of the 2D array's busy cycles (`Result.einsum_share`).")
    add(plots.plot_stalls(results, out / FIGURES[5]),
        "Stall breakdown (`Result.stalls`): idle cycles before each unit kind's ops, by cause, with each kind's "
        "utilization (useful work ÷ capacity) and busy fraction (time occupied).")


def build(out: str | Path, progress: Callable[[str], None] | None = None) -> list[tuple[str, str]]:
    """Write every figure of `FIGURES` under `out` and the index `out/README.md`; return (file, caption) pairs.
    `progress(name)` is called after each figure."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _: None)
    figures: list[tuple[str, str]] = []

    def add(path: Path, caption: str) -> None:
        figures.append((path.name, caption))
        say(path.name)

    results = runs(accel.preset("fusemax"), SMALL["seq"])
    _roofline_figures(out, results, add)
    _unit_figures(out, results, add)
    baseline = next(n for n in ("unfused (3-pass)", "unfused", "example-serial") if n in results)
    add(plots.plot_speedup_energy(results, baseline, out / FIGURES[6],
                                  title=f"MHA (2 heads × 2K tokens × 64) on fusemax, relative to {baseline}"),
        f"Speedup and energy of each dataflow relative to `{baseline}`.")
    add(plots.plot_pareto(mini_sweep(), out / FIGURES[7], label="label",
                          title="example co-design sweep on fusemax-like arrays (MHA 2K): latency × energy × area"),
        "Pareto plots from a sweep table (PE-array size × DRAM bandwidth on FuseMax × dataflow): latency against "
        "energy and area; ringed points are Pareto-optimal in all three, the red step is each panel's 2-D front.")
    _index(out, figures)
    return figures


def _index(out: Path, figures: list[tuple[str, str]]) -> None:
    lines = ["# Gallery", "",
             "Every figure kind `cascadesim` draws, regenerated from built-in small examples by",
             "", "```bash", f"python -m sim report --out {out.as_posix()}", "```", "",
             "Dataflows named `example-*` are the illustrative dataflows of `sim/dataflows/examples.py`, drawn beside "
             "the modelled ones. Utilization is useful work ÷ capacity; busy is the fraction of time occupied.", ""]
    for name, caption in figures:
        title = name.removesuffix(".png").replace("_", " ")
        lines += [f"## {title}", "", caption, "", f"![{title}]({name})", ""]
    lines += ["## simulated versus measured", "",
              "Figures that compare simulations with measurements (the public FlashAttention-2 H100 table) are drawn "
              "by the validation package, which owns the measured data:", "",
              "```bash", VALIDATION_COMMAND.format(out=out.as_posix()), "```", "",
              f"writes them with its report, [{VALIDATION}/report.md]({VALIDATION}/report.md).", ""]
    (out / "README.md").write_text("\n".join(lines))


__all__ = ["FIGURES", "build", "mini_sweep", "runs", "variant_roofs"]
