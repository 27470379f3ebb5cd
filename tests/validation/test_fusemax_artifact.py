"""The cycle simulation against the FuseMax artifact's closed forms (equal where the schedule is the same, and by how
much where the formula leaves something out), the artifact's action counts (buffer words per design), its energy
accounting beside the model's, and the iso-area check."""
from __future__ import annotations

import pytest

import accel
import sim
import workloads
from validation.reproductions import fusemax_artifact as artifact

SEQ, E = 16384, 64
TILES = 2 * (SEQ // 256) ** 2   # two heads


def cascade(softmax="1pass", seq=SEQ, head_dim=E, heads=2):
    return workloads.attention("mha", batch=1, heads=heads, seq=seq, head_dim=head_dim, softmax=softmax)


def with_drain(drain):
    """FuseMax with a reduction drain of `drain` cycles: a fill/drain of the columns' skew (255) plus it."""
    d = accel.to_dict(accel.preset("fusemax"))
    d["name"], d["units"][0]["fill_drain_cycles"] = f"fusemax_drain{drain}", drain + 255
    return accel.from_dict(d)


def per_tile(r):
    return r.cycles / TILES


def test_cascade_is_the_artifacts_sum_of_1d_work():
    """+Cascade on FLAT's hardware is bound by its 1D array: per 256×256 tile LM 256, SLN 2·256 (the exp and the
    subtraction, as the artifact charges them), SLD 256, RM 1, PRM 2, SPD 1, RD 1, SPNV F, RNV F = 1157 cycles at
    F = 64 — the closed form max(mem, Σ 2D, Σ 1D) to 10^-4. With the exp unit's pipelined subtract (FLAT's own
    costing) SLN and PRM cost one cycle: 900 cycles, 22% less."""
    c, arch = cascade(), accel.preset("flat")
    r = sim.evaluate(c, arch, "fusemax-cascade")
    assert r.mapping.params["exp_of_difference"] is False
    assert per_tile(r) == pytest.approx(256 + 2 * 256 + 256 + 1 + 2 + 1 + 1 + 2 * E, rel=2e-3)
    assert r.cycles == pytest.approx(artifact.closed_form_cycles(r, c.sizes, arch), rel=1e-4)
    fused = sim.evaluate(c, arch, "fusemax-cascade", constraints={"exp_of_difference": True})
    assert per_tile(fused) == pytest.approx(3 * 256 + 1 + 1 + 1 + 1 + 1 + 2 * E, rel=2e-3)
    assert fused.energy_j == r.energy_j   # the same ops: the choice moves time only


@pytest.mark.parametrize("drain", [0, 32, 64])
def test_architecture_is_the_artifacts_formula_when_the_drain_hides_behind_spnv(drain):
    """+Architecture, one tile at a time: BQK + LM, the drain D, RM, SLN + SLD beside PRM + SPD, then SLNV beside
    SPNV + RNV. While D ≤ F the SLNV results reach RNV before SPNV is done, so the simulation is the artifact's
    formula E + 1 + D + 1 + 8 + 2F per tile, plus what each query block adds once (its Q load, AV and output
    write, serialized with the tiles: ~4 cycles per tile with 4096 tiles per block)."""
    c, arch = cascade(), with_drain(drain)
    r = sim.evaluate(c, arch, "fusemax-arch")
    formula = E + 1 + drain + 1 + 8 + 2 * E
    assert 0 <= per_tile(r) - formula <= 5
    assert r.cycles == pytest.approx(artifact.closed_form_cycles(r, c.sizes, arch), rel=0.025)


@pytest.mark.parametrize("head_dim", [64, 128])
def test_architecture_exposes_the_slnv_drain_the_formula_leaves_out(head_dim):
    """With FuseMax's drain (D = R − 1 = 255 cycles), SLNV's results (a reduction over P0 like LM's) reach RNV D
    cycles after they are computed: RNV ends D + F after SLNV starts, not 2F. The simulation is the formula plus
    D − F per tile (+191 cycles, +42%, at F = 64; +127, +20%, at F = 128), plus the block's own serial work."""
    c, arch = cascade(head_dim=head_dim), accel.preset("fusemax")
    r = sim.evaluate(c, arch, "fusemax-arch")
    closed = artifact.closed_form_cycles(r, c.sizes, arch)
    assert closed / TILES == pytest.approx(head_dim + 1 + 255 + 1 + 8 + 2 * head_dim, rel=2e-3)
    assert 0 <= (r.cycles - closed) / TILES - (255 - head_dim) <= 6


@pytest.mark.parametrize("df,softmax,hw", [("fusemax", "1pass", "fusemax"), ("flat", "3pass", "flat")])
def test_fusemax_and_flat_are_their_closed_forms(df, softmax, hw):
    """Fully overlapped schedules: FuseMax's critical path max(E+1, F+1) + 1 + 8 + F per tile and FLAT's 1D-bound
    4·P0 per tile are what the simulation gives at 16K tokens (within 1%)."""
    c, arch = cascade(softmax), accel.preset(hw)
    r = sim.evaluate(c, arch, df)
    assert r.cycles == pytest.approx(artifact.closed_form_cycles(r, c.sizes, arch), rel=0.01)


def test_fusemax_buffer_words_are_the_artifacts():
    """FuseMax's global-buffer words per (b, h) as the artifact counts them (one query block here): reads Q, K, V per
    tile (E, E, F per score ÷ 256), RNV read back by SPNV every tile (F/256), RM and RD (2/256), and RNV and RD once
    by AV; writes Q and K/V once (the fills), RNV, RM and RD every tile."""
    m = p = 4096
    c = cascade(seq=m, heads=1)
    r = sim.evaluate(c, accel.preset("fusemax"), "fusemax")
    assert r.mapping.params["M1"] == m // 256   # one block: K and V filled once
    reads = m * p * (2 * E + 2 * E + 2) // 256 + m * (E + 1)
    writes = m * E + p * 2 * E + m * p * (E + 2) // 256
    assert r.bytes_per_level["GlobalBuffer.read"] == 2 * reads
    assert r.bytes_per_level["GlobalBuffer.write"] == 2 * writes


def test_cascade_scores_cross_through_the_buffer():
    """+Cascade's scores touch FLAT's buffer five times per score (BQK and SLN write, LM, SLN and SLNV read) beside
    the running state FuseMax keeps there too."""
    m = p = 4096
    c = cascade(seq=m, heads=1)
    one_pass = sim.evaluate(c, accel.preset("fusemax"), "fusemax")
    on_flat = sim.evaluate(c, accel.preset("flat"), "fusemax-cascade")
    scores = m * p * 2
    assert on_flat.bytes_per_level["GlobalBuffer.read"] - one_pass.bytes_per_level["GlobalBuffer.read"] == 3 * scores
    assert on_flat.bytes_per_level["GlobalBuffer.write"] - one_pass.bytes_per_level["GlobalBuffer.write"] == 2 * scores


def _per_score_pj(r, scores):
    return {k: v / scores * 1e12 for k, v in artifact.components(r, accel.preset(r.arch), "artifact").items()}


def test_artifact_accounting_from_the_per_score_actions():
    """Under the artifact's accounting the energy per score follows from its action counts and tables alone (BERT
    head at 1K): FLAT 2·64 MACs, a 94.6475 pJ exp, two adds, a divide and a max, four buffer reads and three writes
    of a word of its 32 MiB buffer, Q, K and V re-streamed 4 times (1.5 B) and the output written; FuseMax 64 + 6 +
    64 MACs, two adds and a max on the 2D array, 1D work per row and tile, the buffer words counted above, Q, K, V
    read once and the output written. Registers count ~0 (per instance). The ratio, ~0.785, is not fitted."""
    c3, c1 = cascade("3pass", seq=1024, heads=1), cascade(seq=1024, heads=1)
    flat = sim.evaluate(c3, accel.preset("flat"), "flat")
    fm = sim.evaluate(c1, accel.preset("fusemax"), "fusemax")
    scores = 1024 * 1024
    mac, add, div, mx, exp = 17.1645, 8.3395, 36.251153, 0.028036, 94.6475
    row = 256
    dram = 249.6 / 8   # pJ per byte
    out = 1024 * E * 2 / scores * dram
    want_flat = (128 * mac + exp + 2 * add + div + mx + (4 * 23854.66 + 3 * 27097.56) / row + 1.5 * dram + out)
    got_flat = sum(_per_score_pj(flat, scores).values())
    assert got_flat == pytest.approx(want_flat, rel=1e-3)
    one_d = ((7 + E) * mac + (2 + E) * add + E * div / 1024) / 256
    reads = (4 * E + 2) / 256 + (E + 1) / 1024
    writes = (E + 2) / 256 + 3 * E / 1024
    gb = (reads * 12512.76 + writes * 15751.46) / row
    want_fm = (128 + 6) * mac + 2 * add + mx + one_d + gb + 3 * E * 2 / 1024 * dram + out
    got_fm = sum(_per_score_pj(fm, scores).values())
    assert got_fm == pytest.approx(want_fm, rel=1e-3)
    assert got_fm / got_flat == pytest.approx(0.785, abs=0.005)


def test_artifact_quirks_are_a_named_variant():
    """The model charges every register access and +Cascade's exp; the artifact's accounting counts registers per
    PE instance and +Cascade's exp as zero (a misspelled key). +Architecture and +Binding have the same energy."""
    c = cascade(seq=4096)
    fm, arch_step = (sim.evaluate(c, accel.preset("fusemax"), df) for df in ("fusemax", "fusemax-arch"))
    assert fm.energy_j == arch_step.energy_j
    model, art = artifact.components(fm, accel.preset("fusemax")), artifact.components(fm, accel.preset("fusemax"),
                                                                                         "artifact")
    assert model["registers"] == pytest.approx(artifact.register_energy_real(fm))
    assert 0 < art["registers"] < model["registers"] / 200
    assert {k: v for k, v in art.items() if k != "registers"} == {k: v for k, v in model.items() if k != "registers"}
    casc = sim.evaluate(c, accel.preset("flat"), "fusemax-cascade")
    assert artifact.components(casc, accel.preset("flat"))["exp"] > 0
    assert artifact.components(casc, accel.preset("flat"), "artifact")["exp"] == 0
    with pytest.raises(ValueError, match="accounting must be"):
        artifact.components(fm, accel.preset("fusemax"), "timeloop")


def test_iso_area_from_the_component_table():
    """With the presets' PE areas and the named SRAM density, FuseMax's chip (more PE area, half the buffer) is
    larger than FLAT's; it would be 6.4% smaller, as the paper reports, at the density iso_area names."""
    a = artifact.iso_area()
    assert a["fusemax_mm2"] == pytest.approx(a["fusemax_pe_mm2"] + 16 * 2 ** 20 * a["sram_um2_per_byte"] * 1e-6)
    assert a["flat_mm2"] == pytest.approx(a["flat_pe_mm2"] + 32 * 2 ** 20 * a["sram_um2_per_byte"] * 1e-6)
    d = a["density_for_paper_um2_per_byte"]
    fm = a["fusemax_pe_mm2"] + 16 * 2 ** 20 * d * 1e-6
    fl = a["flat_pe_mm2"] + 32 * 2 ** 20 * d * 1e-6
    assert fm / fl == pytest.approx(1 - 0.064)
    assert a["density_breakeven_um2_per_byte"] < d


def test_cascades_16_mib_budget_changes_m1_only():
    """The artifact budgets +Cascade's query block for 16 MiB although it runs on FLAT's 32 MiB hardware; the model
    uses the hardware's buffer. The smaller budget halves M1 at long sequences (K and V re-read twice as often) and
    leaves the 1D-bound latency as it is: the two figures agree to 0.1% in energy."""
    d = accel.to_dict(accel.preset("flat"))
    d["name"], d["levels"][1]["capacity_bytes"] = "flat_16mib_budget", 16 * 2 ** 20
    c = workloads.attention("mha", batch=1, heads=2, seq=65536, head_dim=E)
    full, budget = (sim.evaluate(c, a, "fusemax-cascade") for a in (accel.preset("flat"), accel.from_dict(d)))
    assert (full.mapping.params["M1"], budget.mapping.params["M1"]) == (64, 32)
    assert budget.cycles == pytest.approx(full.cycles, rel=1e-6)
    assert budget.energy_j == pytest.approx(full.energy_j, rel=1e-3)
