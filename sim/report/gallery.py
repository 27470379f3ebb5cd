"""`python -m sim report`: a gallery of every figure kind, from built-in small examples, with an index page.

Registered dataflows are used where they support the example workload; otherwise (and always, as a reference point)
two *illustrative* example lowerings stand in: `example-serial` and `example-pipelined`, a 1-pass attention pipeline
whose per-Einsum op durations come from the roofline's per-unit compute times. They are not models of any machine's
dataflow; they exist so every figure kind can be drawn from the engine's real output.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable

import accel
import workloads
from accel import Arch
from workloads import Cascade

from sim.report import plots
from sim.dataflows.registry import Lowered, verdicts
from sim.engine.scheduler import simulate
from sim.evaluation import account, evaluate
from sim.ir.mapping import FusionGroup, Mapping
from sim.ir.program import ProgramBuilder
from sim.ir.result import Result
from sim.bounds.rooflines import assign, roofline

EXAMPLES = ("example-serial", "example-pipelined")
TILE = 256
FAMILIES = ("mha", "gqa", "mqa", "mla", "sqa", "gna")    # the variants drawn on the variant roofline
FA2_CSV = Path(__file__).resolve().parents[1] / "validation" / "data" / "fa2_h100_public.csv"


def example_lowering(cascade: Cascade, arch: Arch, pipelined: bool = True) -> tuple[Mapping, Lowered]:
    """An illustrative tile program for a 1-pass attention cascade on a spatial arch with one DRAM-like outer level:
    per (head, query block, key tile) a K/V tile load, then every Einsum but the last in cascade order on the unit
    the roofline binds it to; per query block the final Einsum. `pipelined` lets the next tile's load overlap the
    current tile's compute (double buffering); otherwise each load waits for the previous tile's compute."""
    s = cascade.sizes
    heads = s.get("H", 1) * s.get("B", 1)
    m_blocks, p_tiles = math.ceil(s["M"] / TILE), math.ceil(s["P"] / TILE)
    outer = arch.levels[0]
    inner = next((lv for lv in arch.levels[1:] if lv.capacity_bytes), arch.levels[-1])
    size = workloads.DTYPE_BYTES[cascade.dtype]
    roof = roofline(cascade, arch)
    binding = {name: max(row.compute_s, key=row.compute_s.get) for row in roof.rows if row.compute_s
               for name in [row.einsum]}
    order = [row.einsum for row in roof.rows if row.einsum in binding]
    last = order[-1]
    iters = heads * m_blocks * p_tiles
    tile_bytes = TILE * (s.get("E", 64) + s.get("F", 64)) * size      # one K and one V tile
    cycles_per_byte = arch.clock_hz / outer.bandwidth_bytes_per_s
    units = [outer.name] + [u.name for u in arch.units]
    b = ProgramBuilder(units=units, unit_is_memory=[True] + [False] * len(arch.units),
                       buffers={inner.name: 2 * tile_bytes}, levels=[f"{outer.name}.read", f"{outer.name}.write"],
                       tags=order)
    body = b.segment("kv_tiles", repeat=iters)
    load = body.op(outer.name, math.ceil(tile_bytes * cycles_per_byte), acquire={inner.name: tile_bytes},
                   bytes={f"{outer.name}.read": tile_bytes}, prev_deps=[] if pipelined else [len(order) - 1])
    prev = load
    for k, name in enumerate(order[:-1]):
        row = next(r for r in roof.rows if r.einsum == name)
        cycles = max(1, round(row.compute_s[binding[name]] * arch.clock_hz / iters))
        release = {inner.name: tile_bytes} if k == len(order) - 2 else None
        prev = body.op(binding[name], cycles, deps=[prev], tag=name, release=release)
    row = next(r for r in roof.rows if r.einsum == last)
    out_bytes = row.traffic_bytes
    tail = b.segment("normalize", repeat=heads * m_blocks, barrier=True)
    tail.op(binding[last], max(1, round(row.compute_s[binding[last]] * arch.clock_hz / (heads * m_blocks))),
            tag=last)
    tail.op(outer.name, math.ceil(out_bytes / (heads * m_blocks) * cycles_per_byte), deps=[0],
            bytes={f"{outer.name}.write": out_bytes / (heads * m_blocks)})
    actions: dict[str, float] = {}
    for einsum, per_unit in assign(cascade, arch, binding).items():
        for unit_name, ops in per_unit.items():
            for op, n in ops.items():
                actions[f"{unit_name}.{op}"] = actions.get(f"{unit_name}.{op}", 0.0) + n
    name = EXAMPLES[int(pipelined)]
    mapping = Mapping(name, (FusionGroup(tuple(order)),), binding,
                      {"q_block": TILE, "kv_tile": TILE, "double_buffered": pipelined})
    keys = {outer.name: outer.name.lower(), **{u.name: u.name for u in arch.units}}
    return mapping, Lowered(b.build(), keys, actions, {}, workloads.flops(cascade),
                            ("illustrative example lowering, not a model of a real dataflow",))


def example_result(cascade: Cascade, arch: Arch, pipelined: bool = True, trace: bool = False) -> Result:
    """`sim.evaluate`'s record for the illustrative example lowering."""
    mapping, lowered = example_lowering(cascade, arch, pipelined)
    # Traced runs are simulated in full (no periodic extrapolation) so the timeline has a steady middle to show.
    return account(cascade, arch, mapping, lowered, simulate(lowered.program, trace=trace, extrapolate=not trace))


def run_dataflow(cascade: Cascade, arch: Arch, name: str, trace: bool = False) -> Result:
    """A registered dataflow through `sim.evaluate`, or one of the illustrative examples."""
    if name in EXAMPLES:
        return example_result(cascade, arch, name == EXAMPLES[1], trace)
    return evaluate(cascade, arch, name, trace=trace)


def supported(cascade: Cascade, arch: Arch) -> list[str]:
    return [n for n, why in verdicts(cascade, arch).items() if why is None] + list(EXAMPLES)


def runs(arch: Arch, seq: int, trace: str | None = None) -> dict[str, Result]:
    """Label → Result for MHA (1×2 heads×64) at `seq`: every dataflow that runs the 1-pass cascade, then those that
    only run the 3-pass one (labelled "(3-pass)", e.g. the unfused baseline); `trace` names one to trace."""
    shape = dict(batch=1, heads=2, seq=seq, head_dim=64)
    one, three = (workloads.attention("mha", softmax=s, **shape) for s in ("1pass", "3pass"))
    out = {n: run_dataflow(one, arch, n, trace=(n == trace)) for n in supported(one, arch)}
    for n, why in verdicts(three, arch).items():
        if why is None and n not in out:
            out[f"{n} (3-pass)"] = run_dataflow(three, arch, n)
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


def _fa2_rows() -> list[dict]:
    if not FA2_CSV.exists():
        return []
    with FA2_CSV.open() as f:
        return [r for r in csv.DictReader(f) if r["pass"] == "fwd" and r["time_ms"]]


def build(out: str | Path, progress: Callable[[str], None] | None = None) -> list[tuple[str, str]]:
    """Write every figure kind under `out` and the index `out/README.md`; return (file, caption) pairs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _: None)
    figures: list[tuple[str, str]] = []

    def add(path: Path, caption: str) -> None:
        figures.append((path.name, caption))
        say(path.name)

    fusemax, h100 = accel.preset("fusemax"), accel.preset("h100")
    small = workloads.attention("mha", batch=1, heads=2, seq=2048, head_dim=64, softmax="1pass")
    roof = roofline(small, fusemax)
    results = runs(fusemax, 2048, trace=EXAMPLES[1])
    kernels = [(r, roof.ops) for r in results.values()]     # (the 3-pass cascade does < 1% more ops)
    add(plots.plot_roofline(fusemax, out / "roofline_fusemax.png", roof=roof, results=kernels),
        f"Roofline of `{small.name}` (1×2 heads×2K tokens×64) on FuseMax: compute roofs per unit, DRAM roof, ridge "
        "point; each Einsum alone (unfused bytes), the fused cascade at its lower bound, and each simulated kernel at "
        "its achieved rate (ops / DRAM bytes, ops / latency).")
    variants = variant_roofs(h100)
    add(plots.plot_roofline(h100, out / "roofline_h100_variants.png", variants=variants,
                            title="attention variants on h100 (32 heads × 128, 4K keys; at their roofline bounds)"),
        "Roofline of H100: tensor-core, FMA and SFU compute roofs, HBM/L2/SMEM memory roofs, datasheet (solid, "
        "dashed) and measured (dotted) ceilings, ridge points; each registered attention variant in prefill (4K "
        "queries) and decode (1 query) at its lower bound.")
    traced = results[EXAMPLES[1]]
    add(plots.plot_timeline(traced, out / "timeline.png",
                            title=f"{traced.dataflow} on {traced.arch}: per-unit timeline, steady-state window"),
        "Per-unit Gantt chart from the engine's trace (`sim.evaluate(..., trace=True).run.trace`), coloured by "
        "Einsum, zoomed to three iterations in the middle of the main loop.")
    series: dict[str, list] = {}
    for seq in (512, 1024, 2048, 4096, 8192):
        for n, r in runs(fusemax, seq).items():
            series.setdefault(n, []).append((seq, r))
    add(plots.plot_utilization_vs_seq(series, out / "utilization_vs_seq.png",
                                      title="utilization versus sequence length on fusemax (MHA, 2 heads × 64)"),
        "Utilization of each unit kind versus sequence length, one line per dataflow.")
    add(plots.plot_einsum_share(results, out / "einsum_share.png"),
        "Each Einsum's share of the 2D array's busy cycles (`Result.einsum_share`).")
    add(plots.plot_stalls(results, out / "stalls.png"),
        "Stall breakdown (`Result.stalls`): idle cycles before each unit kind's ops, by cause.")
    baseline = next((n for n in ("unfused (3-pass)", "unfused") if n in results), EXAMPLES[0])
    add(plots.plot_speedup_energy(results, baseline, out / "speedup_energy.png",
                                  title=f"MHA (2 heads × 2K tokens × 64) on fusemax, relative to {baseline}"),
        f"Speedup and energy of each dataflow relative to `{baseline}`.")
    fa2 = _fa2_rows()
    if fa2:
        figures += _validation_figures(out, fa2, h100, say)
    add(plots.plot_pareto(_mini_sweep(), out / "pareto.png", label="label",
                          title="example co-design sweep on fusemax-like arrays (MHA 2K): latency × energy × area"),
        "Pareto plots from a sweep table (PE-array size × DRAM bandwidth on a FuseMax-like array × dataflow): "
        "latency against energy and area; ringed points are Pareto-optimal in all three, the red step is each "
        "panel's 2-D front.")
    _index(out, figures)
    return figures


def _validation_figures(out: Path, rows: list[dict], h100: Arch, say) -> list[tuple[str, str]]:
    """Simulated (the `flash2`/`unfused` GPU dataflows when registered, else the roofline bound) against the public
    FlashAttention-2 H100 table."""
    have = verdicts(workloads.attention("mha", batch=1, heads=1, seq=512, head_dim=64), h100)
    meas, simu, groups, labels = [], [], [], []
    by_key: dict[tuple, dict[str, float]] = {}
    for r in rows:
        kernel, d, seq, causal = r["kernel"], int(r["head_dim"]), int(r["seq"]), r["causal"] == "1"
        c = workloads.attention("mha", batch=int(r["batch"]), heads=int(r["heads"]), seq=seq, head_dim=d,
                                causal=causal, softmax="1pass" if kernel == "flash2" else "3pass")
        df = {"flash2": "flash2", "standard": "gpu-unfused"}[kernel]
        if have.get(df, "not registered") is None and verdicts(c, h100).get(df) is None:
            t, how = evaluate(c, h100, df).latency_s, f"{df} dataflow"
        else:
            t, how = roofline(c, h100).lower_bound_s, "roofline bound"
        meas.append(float(r["time_ms"]) / 1e3)
        simu.append(t)
        groups.append(f"{kernel} ({how})")
        labels.append(f"{d}{'c' if causal else ''}/{seq // 1024 or 0.5}K")
        by_key.setdefault((d, causal, seq), {})[kernel] = (float(r["time_ms"]) / 1e3, t)
    p1 = plots.plot_sim_vs_measured(meas, simu, out / "sim_vs_measured.png", groups=groups, band=0.10,
                                    title="H100 FlashAttention-2 table, forward")
    say(p1.name)
    keys = sorted(k for k, v in by_key.items() if len(v) == 2 and k[2] in (1024, 4096))
    labels = [f"D{d}{' causal' if c else ''} {s // 1024}K" for d, c, s in keys]
    measured = [by_key[k]["standard"][0] / by_key[k]["flash2"][0] for k in keys]
    simulated = [by_key[k]["standard"][1] / by_key[k]["flash2"][1] for k in keys]
    p2 = plots.plot_speedup_bars(labels, simulated, measured, out / "speedup_bars.png",
                                 title="FlashAttention-2 over standard attention on H100", ylabel="speedup (×)")
    say(p2.name)
    return [(p1.name, "Simulated versus measured forward time for the public H100 FlashAttention-2 table (reference "
                      "§4), y = x with a ±10% band. Simulated: the `flash2` / `gpu-unfused` dataflows where they are "
                      "registered and support the shape, else the roofline lower bound (the legend says which)."),
            (p2.name, "Speedup of FlashAttention-2 over standard (unfused) attention, simulated beside measured.")]


def _mini_sweep() -> list[dict]:
    """A small architecture sweep as a table of records (what a sweep returns, as dicts): PE-array size × DRAM
    bandwidth on a FuseMax-like array, each spatial dataflow that supports the workload (the examples otherwise)."""
    c = workloads.attention("mha", batch=1, heads=2, seq=2048, head_dim=64, softmax="1pass")
    rows = []
    for pes in (64, 128, 256):
        for gbps in (200, 800):
            spec = accel.to_dict(accel.preset("fusemax"))
            spec["name"] = f"fusemax_{pes}x{pes}_{gbps}GBs"
            spec["units"][0]["pes"] = [pes, pes]
            spec["units"][1]["pes"] = [pes]
            spec["levels"][0]["bandwidth_bytes_per_s"] = gbps * 2 ** 30
            arch = accel.from_dict(spec)
            area = sum(u.area_um2_per_pe * accel.pe_count(arch, u) for u in arch.units) / 1e6
            for name in supported(c, arch):
                r = run_dataflow(c, arch, name)
                rows.append({"arch": arch.name, "dataflow": name, "label": f"{name} {pes}², {gbps} GiB/s",
                             "latency_s": r.latency_s, "energy_j": r.energy_j, "area_mm2": area})
    return rows


def _index(out: Path, figures: list[tuple[str, str]]) -> None:
    lines = ["# Gallery", "",
             "Every figure kind `cascadesim` draws, regenerated from built-in small examples by",
             "", "```bash", f"python -m sim report --out {out.as_posix()}", "```", "",
             "(under a minute). Dataflows named `example-*` are illustrative lowerings used beside the modelled ones "
             "so every figure kind has data (`sim/gallery.py`).", ""]
    for name, caption in figures:
        title = name.removesuffix(".png").replace("_", " ")
        lines += [f"## {title}", "", caption, "", f"![{title}]({name})", ""]
    (out / "README.md").write_text("\n".join(lines))


__all__ = ["EXAMPLES", "build", "example_lowering", "example_result", "run_dataflow", "supported", "variant_roofs"]
