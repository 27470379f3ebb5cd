"""What the FuseMax artifact (FPSG-UIUC/micro24-fusemax-artifact v1.0, its Python glue `workspace/src/accel/*.py`)
computes from the same per-Einsum work, beside what the cycle simulation gives: its closed-form latencies, its
energy accounting, and the per-component energy breakdown both are reported in; and the iso-area check of the FuseMax
paper (Nayak et al., MICRO 2024, §V: FuseMax's buffer sized so the chip matches FLAT's area).

The closed forms combine per-Einsum times t(X) — here each Einsum's busy cycles on its unit in the simulated run,
which equal its op slots ÷ PEs (tested) — and the DRAM time `mem`:

- `fusemax` (+Binding): max(t(BQK)+t(LM), t(RD)+t(RNV)+t(AV)) + t(RM) + max(t(SLN)+t(SLD), t(PRM)+t(SPD))
  + max(t(SLNV), t(SPNV)), and the latency max(compute, mem);
- `fusemax-arch` (+Architecture, `stall_proposal.py`): max(t(BQK)+t(LM), t(RD)+t(AV)) + D·t(LM) + t(RM)
  + max(t(SLN)+t(SLD), t(PRM)+t(SPD)) + max(t(SLNV), t(SPNV)+t(RNV)), D the 2D array's drain (256 in the
  artifact, R − 1 = 255 here);
- `fusemax-cascade` (`flat_pe_proposal.py`) and `flat` (`flat.py`): max(mem, Σ t(2D Einsums), Σ t(1D Einsums));
- `unfused`: Σ over the phases QK, softmax, AV of max(mem_phase, compute_phase).

Energy "as the artifact accounts it" differs from the model's (physically right) accounting in two places: PE
register files are counted per instance (one PE's accesses, so their energy is ~0; the model charges every access),
and +Cascade's exp energy is zero (its energy table looks the exp up under a misspelled key).
"""
from __future__ import annotations

import math
from typing import Mapping

import accel
import sim
import workloads
from sim.bounds import area
from sim.dataflows.spatial.common import largest_divisor, reduction_drain

COMPONENTS = ("2d_macs", "registers", "1d_units", "exp", "global_buffer", "dram")
LABELS = {"2d_macs": "2D MACs", "registers": "registers", "1d_units": "1D units", "exp": "exp",
          "global_buffer": "global buffer", "dram": "DRAM"}
ONE_PASS_1D_TAIL = ("RD", "RNV", "AV")   # the 1D work +Binding overlaps with the next tile's BQK and LM
VALUE_BYTES = workloads.DTYPE_BYTES["fp16"]   # spatial arrays are modelled in FP16 (FuseMax, MICRO 2024, §V)
PAPER_AREA_SAVING = 0.064   # FuseMax's chip is 6.4% smaller than FLAT's (FuseMax, MICRO 2024, §V)


def einsum_cycles(r: sim.Result) -> dict[str, float]:
    """t(X) in cycles: each Einsum's busy cycles on its unit in the simulated run."""
    return {e: sum(units.values()) for e, units in r.per_einsum.items()}


def _mem_cycles(dram_bytes: float, arch: accel.Arch) -> float:
    return dram_bytes / arch.levels[0].bandwidth_bytes_per_s * arch.clock_hz


def _unfused_phase_bytes(s: Mapping[str, int], rows: int) -> tuple[float, float, float]:
    """DRAM bytes of the unfused phases as the lowering moves them: QK reads Q once and K per block of `rows` query
    rows and writes the scores; the softmax reads and writes them; AV reads them and V per block, writes the output."""
    b = VALUE_BYTES
    pairs, blocks = s["B"] * s["H"], s["M"] // rows
    scores = s["M"] * s["P"]
    return (pairs * b * (s["M"] * s["E"] + blocks * s["P"] * s["E"] + scores), pairs * b * 2 * scores,
            pairs * b * (scores + blocks * s["P"] * s["F"] + s["M"] * s["F"]))


def closed_form_cycles(r: sim.Result, sizes: Mapping[str, int], arch: accel.Arch) -> float:
    """The artifact's latency formula for the dataflow of `r`, on the per-Einsum cycles of `r`'s run (`sizes`: the
    cascade's B, H, M, P, E, F)."""
    t, df = einsum_cycles(r), r.dataflow
    mem = _mem_cycles(r.dram_bytes, arch)
    if df == "unfused":
        phases = (("QK",), ("GM", "SN", "SD", "A"), ("AV",))
        return sum(max(_mem_cycles(n, arch), sum(t[e] for e in es))
                   for es, n in zip(phases, _unfused_phase_bytes(sizes, r.mapping.params["rows"])))
    if df in ("flat", "fusemax-cascade"):
        return max(mem, busiest_unit_cycles(r))
    middle = t["RM"] + max(t["SLN"] + t["SLD"], t["PRM"] + t["SPD"])
    if df == "fusemax":
        return max(mem, max(t["BQK"] + t["LM"], sum(t[e] for e in ONE_PASS_1D_TAIL)) + middle
                   + max(t["SLNV"], t["SPNV"]))
    if df == "fusemax-arch":
        drain = reduction_drain(accel.unit(arch, "2d"))
        return max(mem, max(t["BQK"] + t["LM"], t["RD"] + t["AV"]) + drain * t["LM"] + middle
                   + max(t["SLNV"], t["SPNV"] + t["RNV"]))
    raise ValueError(f"no closed form for dataflow {df!r}")


def busiest_unit_cycles(r: sim.Result) -> float:
    """Cycles of work of the busiest array (Σ of its Einsums' busy cycles): the compute term of a max() formula."""
    per_unit: dict[str, float] = {}
    for units in r.per_einsum.values():
        for u, cycles in units.items():
            per_unit[u] = per_unit.get(u, 0.0) + cycles
    return max(per_unit.values(), default=0.0)


def flat_q_restream_bytes(r: sim.Result, sizes: Mapping[str, int]) -> float:
    """DRAM bytes FLAT spends streaming Q once per key tile beyond reading it once per row block (0 for the other
    dataflows): what its latency would save if Q stayed on chip for its block."""
    if r.dataflow != "flat":
        return 0.0
    s, b = sizes, VALUE_BYTES
    key_tiles = s["P"] // largest_divisor(s["P"], accel.unit(accel.preset(r.arch), "2d").pes[0])
    return float(s["B"] * s["H"] * s["M"] * s["E"] * b * (key_tiles - 1))


def components(r: sim.Result, arch: accel.Arch, accounting: str = "model") -> dict[str, float]:
    """Joules per component (COMPONENTS) of a spatial result. `accounting="artifact"`: register files counted per
    PE instance (a PE's share of the accesses) and +Cascade's exp energy zero, as the artifact does."""
    if accounting not in ("model", "artifact"):
        raise ValueError(f"accounting must be 'model' or 'artifact', got {accounting!r}")
    units = {u.name: u for u in arch.units}
    out = dict.fromkeys(COMPONENTS, 0.0)
    for key, joules in r.energy_breakdown.items():
        name, _, action = key.partition(".")
        if name == arch.levels[0].name:
            out["dram"] += joules
        elif name not in units:
            out["global_buffer"] += joules
        elif action.startswith("register_"):
            share = 1 / accel.pe_count(arch, units[name]) if accounting == "artifact" else 1.0
            out["registers"] += joules * share
        elif action == "exp":
            out["exp"] += 0.0 if accounting == "artifact" and r.dataflow == "fusemax-cascade" else joules
        else:
            out["2d_macs" if name == "2d" else "1d_units"] += joules
    return out


def register_energy_real(r: sim.Result) -> float:
    """Joules of every register access of `r` at its per-access energy (what per-instance counting leaves out)."""
    return sum(j for k, j in r.energy_breakdown.items() if k.partition(".")[2].startswith("register_"))


def iso_area() -> dict[str, float]:
    """FuseMax's and FLAT's chip areas from the component table (`sim.bounds.area`: PE areas of the presets, the
    buffers at `SRAM_UM2_PER_BYTE`), and the buffer density at which FuseMax would be 6.4% smaller than FLAT, as
    the FuseMax paper reports with Accelergy/CACTI."""
    fm, fl = accel.preset("fusemax"), accel.preset("flat")
    pe = {n: area.pe_area_um2(a) * 1e-6 for n, a in (("fusemax", fm), ("flat", fl))}
    buf = {n: a.levels[1].capacity_bytes for n, a in (("fusemax", fm), ("flat", fl))}
    total = {n: area.area_mm2(a) for n, a in (("fusemax", fm), ("flat", fl))}
    smaller = PAPER_AREA_SAVING
    # pe_fm + buf_fm·d = (1 − s)(pe_fl + buf_fl·d) → d in µm² per byte
    density = (pe["fusemax"] - (1 - smaller) * pe["flat"]) / ((1 - smaller) * buf["flat"] - buf["fusemax"]) * 1e6
    breakeven = (pe["fusemax"] - pe["flat"]) / (buf["flat"] - buf["fusemax"]) * 1e6
    return {"sram_um2_per_byte": area.SRAM_UM2_PER_BYTE, "fusemax_mm2": total["fusemax"], "flat_mm2": total["flat"],
            "fusemax_pe_mm2": pe["fusemax"], "flat_pe_mm2": pe["flat"],
            "fusemax_vs_flat": total["fusemax"] / total["flat"] - 1.0,
            "density_for_paper_um2_per_byte": density, "density_breakeven_um2_per_byte": breakeven}

