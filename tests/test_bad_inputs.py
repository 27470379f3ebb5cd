"""The bad-input battery: every kind of malformed or infeasible request across the public API fails early, with a
documented error type and a message that names the problem. The same cases generate docs/errors.md, so the
documented example messages are real messages and cannot go stale.

Regenerate the doc after changing a message: `PYTHONPATH=. python tests/test_bad_inputs.py`.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

import accel
import sim
import workloads
from accel import ArchError
from sim.ir.mapping import MappingError
from sim.ir.program import ProgramBuilder, ProgramError
from sim.report.cli import CLIError
from validation.errors import ValidationError
from workloads import CascadeError

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"

X = "input X[m]\nY[m] = exp(X[m])"
QK = "input Q[m], K[p]\n{mask}S[m,p] = Q[m] * K[p]"
GOOD_YAML = ("cascade: tiny\nsizes: {M: 2, N: 3, K: 4}\ninputs:\n  A: [M, K]\n  B: [K, N]\n"
             "einsums:\n- Z[m,n] = A[m,k] * B[k,n]\n")


def casc(text, sizes, **kw):
    return lambda: workloads.cascade(text, sizes, **kw)


def mha(**kw):
    shape = dict(batch=1, heads=2, seq=8, head_dim=4)
    shape.update(kw)
    return lambda: workloads.attention("mha", **shape)


def arch_with(path, value=None, delete=False):
    def make():
        d = accel.to_dict(accel.preset("fusemax"))
        node = d
        for k in path[:-1]:
            node = node[k]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return accel.from_dict(d)
    return make


def execute_with(inputs):
    c = workloads.attention("mha", batch=1, heads=1, seq=4, head_dim=2, softmax="3pass")
    return lambda: workloads.execute(c, inputs(c))


def evaluate(df, constraints=None, **shape):
    params = dict(batch=1, heads=2, seq=256, head_dim=64)
    params.update(shape)
    return lambda: sim.evaluate(workloads.attention("mha", **params), accel.preset("h100"), df,
                                constraints=constraints)


def program(build):
    def make():
        b = ProgramBuilder(units=["dma", "pe"], unit_is_memory=[True, False], buffers={"gb": 64})
        build(b)
        return b.build()
    return make


def _later_dep(b):
    b.segment("s").op("pe", 1, deps=[3])


def _deadlock(b):
    s = b.segment("s", repeat=2)
    s.op("dma", 1, acquire={"gb": 40})


def _over(b):
    b.segment("s").op("dma", 1, acquire={"gb": 65})


def _unknown_unit(b):
    b.segment("s").op("tensor", 1)


def _zero_repeat(b):
    b.segment("s", repeat=0).op("pe", 1)


def _negative(b):
    b.segment("s").op("pe", -5)


def _over_release(b):
    b.segment("s").op("pe", 1, release={"gb": 8})


H100 = accel.preset("h100")
FUSEMAX = accel.preset("fusemax")

# (id, callable, error type, message fragment)
CASES = [
    # --- the Einsum language ---------------------------------------------------------------------------------
    ("undefined-tensor", casc("input Q[m]\nZ[m] = Q[m] * W[m]", {"M": 2}), CascadeError, "undefined tensor 'W'"),
    ("unknown-op", casc("input X[m]\nY[m] = softmaxx(X[m])", {"M": 2}), CascadeError, "unknown op 'softmaxx'"),
    ("bad-character", casc("input X[m]\nY[m] = X[m] $ 2", {"M": 2}), CascadeError, "unexpected character '$'"),
    ("ends-early", casc("input X[m]\nY[m] = X[m] +", {"M": 2}), CascadeError, "statement ends too early"),
    ("wrong-arity", casc("input X[m], Y[m]\nZ[m] = exp(X[m], Y[m])", {"M": 2}), CascadeError,
     "op 'exp' takes 1 argument(s), got 2"),
    ("nested-reduction", casc("input X[m]\nY[m] = exp(max(m: X[m]))", {"M": 2}), CascadeError,
     "must be the whole right-hand side"),
    ("wrong-reduce-ranks", casc("input X[m,p]\nY[m] = max(e: X[m,p])", {"M": 2, "P": 2}), CascadeError,
     "names the wrong ranks"),
    ("cycle", casc("input X[m]\nA[m] = B[m] + X[m]\nB[m] = A[m] * X[m]", {"M": 2}), CascadeError,
     "cycle between Einsums"),
    ("rank-two-sizes", casc("input Q[m,e], K[p,e]\nZ[m,p] = Q[m,e] * K[m,e]", {"M": 2, "P": 3, "E": 2}),
     CascadeError, "rank used with two sizes"),
    ("no-initial-value", casc("input X[m]\nR[m,p1+1] = max(R[m,p1], X[m])", {"M": 2, "P1": 3}), CascadeError,
     "has no initial value"),
    ("deep-nesting", casc("input X[m]\nY[m] = " + "(" * 3000 + "X[m]" + ")" * 3000, {"M": 2}), CascadeError,
     "nested too deeply"),
    ("text-not-str", casc(None, {"M": 2}), CascadeError, "cascade text must be a str, got NoneType"),
    ("unknown-dtype", casc(X, {"M": 2}, dtype="fp12"), CascadeError, "unknown dtype 'fp12'"),
    # --- sizes and splits --------------------------------------------------------------------------------------
    ("size-zero", casc(X, {"M": 0}), CascadeError, "rank M has size 0; sizes must be ≥ 1"),
    ("size-negative", casc(X, {"M": -3}), CascadeError, "rank M has size -3; sizes must be ≥ 1"),
    ("size-float", casc(X, {"M": 2.5}), CascadeError, "rank M has non-integer size 2.5"),
    ("size-lower-case", casc(X, {"m": 2}), CascadeError, "rank names are upper case, got 'm'"),
    ("size-unused", casc(X, {"M": 2, "Q": 3}), CascadeError, "rank Q is given a size but no statement uses it"),
    ("sizes-not-mapping", casc(X, None), CascadeError, "sizes: expected a mapping of rank name to size"),
    ("tile-larger-than-rank", casc("input K[p]\nsplit p -> p1, p0\nZ[p1,p0] = K[p1,p0]", {"P": 4, "P0": 8}),
     CascadeError, "tile P0=8 does not fit in P=4"),
    ("split-outer-mismatch", casc("input K[p]\nsplit p -> p1, p0\nZ[p1,p0] = K[p1,p0]",
                                  {"P": 8, "P0": 3, "P1": 2}), CascadeError, "needs P1=3"),
    ("split-same-ranks", casc("input K[p]\nsplit p -> p, p0\nZ[p] = K[p]", {"P": 4, "P0": 2}), CascadeError,
     "the three ranks must differ"),
    # --- masks -------------------------------------------------------------------------------------------------
    ("mask-unknown-kind", casc(QK.format(mask="mask m, p: windw(left=1)\n"), {"M": 2, "P": 2}), CascadeError,
     "unknown mask kind 'windw'"),
    ("mask-argument-type", casc(QK.format(mask="mask m, p: window(left='a', right=1)\n"), {"M": 2, "P": 2}),
     CascadeError, "mask argument left='a' must be an integer"),
    ("mask-argument-twice", casc(QK.format(mask="mask m, p: window(left=1, left=2, right=0)\n"), {"M": 2, "P": 2}),
     CascadeError, "an argument is given twice"),
    ("window-negative", casc(QK.format(mask="mask m, p: window(left=-1, right=0)\n"), {"M": 2, "P": 2}),
     CascadeError, "window sizes must be ≥ 0"),
    ("blocks-table-shape", casc(QK.format(mask="mask m, p: blocks(q_block=2, kv_block=2, keep=((1,),))\n"),
                                {"M": 4, "P": 4}), CascadeError, "block table must be 2×2"),
    ("blocks-keep-not-table", casc(QK.format(mask="mask m, p: blocks(q_block=2, kv_block=2, keep=5)\n"),
                                   {"M": 4, "P": 4}), CascadeError, "keep must be a table of 0/1 rows"),
    ("gna-stride-over-window", casc(QK.format(mask="mask m, p: gna(spatial=(4,), window=(2,), stride=(3,))\n"),
                                    {"M": 4, "P": 4}), CascadeError, "stride 3 > window 2"),
    ("gna-layout-size", casc(QK.format(mask="mask m, p: gna(spatial=(2, 3), window=(1, 1))\n"), {"M": 4, "P": 4}),
     CascadeError, "token layout (2, 3) has 6 tokens"),
    # --- attention variants ------------------------------------------------------------------------------------
    ("unknown-variant", lambda: workloads.attention("mhaa", batch=1), CascadeError, "unknown attention variant 'mhaa'"),
    ("heads-zero", mha(heads=0), CascadeError, "heads must be a positive integer, got 0"),
    ("seq-negative", mha(seq=-4), CascadeError, "seq must be a positive integer, got -4"),
    ("head-dim-float", mha(head_dim=64.0), CascadeError, "head_dim must be a positive integer, got 64.0"),
    ("unknown-softmax", mha(softmax="4pass"), CascadeError, "unknown softmax '4pass'"),
    ("key-tile-too-large", mha(key_tile=16), CascadeError, "key_tile=16 is larger than the key length 8"),
    ("gqa-not-dividing", lambda: workloads.attention("gqa", batch=1, heads=4, kv_heads=3, seq=4, head_dim=2),
     CascadeError, "kv_heads=3 does not divide heads=4"),
    ("sliding-negative", lambda: workloads.attention("sliding", batch=1, heads=1, seq=4, head_dim=2, left=-1),
     CascadeError, "left must be a non-negative integer"),
    ("variant-unknown-argument", mha(head_dims=4), CascadeError,
     "attention 'mha': got an unexpected keyword argument 'head_dims'"),
    ("variant-missing-argument", lambda: workloads.attention("mha", batch=1, heads=2), CascadeError,
     "missing a required argument: 'seq'"),
    ("dtype-not-a-string", mha(dtype=["fp16"]), CascadeError, "unknown dtype ['fp16']"),
    ("blocked-keep-not-table", lambda: workloads.attention("blocked", batch=1, heads=1, spatial=6, block=3, keep=5,
                                                           head_dim=2), CascadeError, "keep must be a table"),
    ("cca-model-dim-type", lambda: workloads.attention("cca", batch=1, seq=4, model_dim="16", heads=4,
                                                       compression=2), CascadeError,
     "model_dim must be a positive integer, got '16'"),
    ("moh-routing-too-large", lambda: workloads.attention("moh", batch=1, heads=4, seq=2 ** 40, head_dim=2,
                                                          model_dim=4, shared_heads=1, top_k=2, accounting="sparse"),
     CascadeError, "at most 1048576 (use accounting='dense')"),
    ("unknown-model", lambda: workloads.model("gpt5"), CascadeError,
     "unknown model 'gpt5'"),
    # --- execution and analysis --------------------------------------------------------------------------------
    ("execute-missing-input", execute_with(lambda c: {"Q": np.zeros((1, 1, 4, 2))}), CascadeError,
     "missing inputs ['K', 'V']"),
    ("execute-wrong-shape", execute_with(lambda c: {t: np.zeros((1, 1, 5, 2)) for t in c.inputs}), CascadeError,
     "input Q has shape (1, 1, 5, 2)"),
    ("execute-2^40-points", lambda: workloads.execute(
        workloads.cascade("input A[m], B[n]\nZ[m,n] = A[m] * B[n]", {"M": 2 ** 20, "N": 2 ** 20}),
        {"A": np.zeros(2 ** 20), "B": np.zeros(2 ** 20)}), CascadeError, "1099511627776 points is too many"),
    ("execute-too-many-points", lambda: workloads.execute(
        workloads.cascade("input A[m], B[n]\nZ[m,n] = A[m] * B[n]", {"M": 2 ** 14, "N": 2 ** 14}),
        {"A": np.zeros(2 ** 14), "B": np.zeros(2 ** 14)}), CascadeError, "too many for the reference executor"),
    ("passes-unknown-rank", lambda: workloads.passes(workloads.gemm(2, 2, 2), "P"), CascadeError,
     "passes: unknown rank 'P'"),
    # --- YAML cascade files ------------------------------------------------------------------------------------
    ("yaml-duplicate-key", lambda: workloads.serialize.load(GOOD_YAML + "cascade: again\n"), CascadeError,
     "duplicate key 'cascade'"),
    ("yaml-unknown-key", lambda: workloads.serialize.load(GOOD_YAML + "colour: red\n"), CascadeError,
     "key colour: unknown key 'colour'"),
    ("yaml-malformed", lambda: workloads.serialize.load("cascade: [unclosed\n"), CascadeError, "malformed YAML"),
    ("yaml-unknown-tag", lambda: workloads.serialize.load(GOOD_YAML.replace("M: 2", "!P M: 2")), CascadeError,
     "could not determine a constructor for the tag '!P'"),
    ("yaml-recursive-alias", lambda: workloads.serialize.load("cascade: &a [*a]\n"), CascadeError,
     "nests too deeply"),
    ("yaml-size-type", lambda: workloads.serialize.load(GOOD_YAML.replace("N: 3", "N: three")), CascadeError,
     "key sizes.N: expected an integer size"),
    # --- architecture specs ------------------------------------------------------------------------------------
    ("unknown-preset", lambda: accel.preset("tpu9"), ArchError, "unknown preset 'tpu9'"),
    ("arch-not-mapping", lambda: accel.from_dict([1, 2]), ArchError, "arch: expected a mapping, got list"),
    ("arch-unknown-key", arch_with(("levels", 0, "bandwith_bytes_per_s"), 1.0), ArchError,
     "arch.levels[0].bandwith_bytes_per_s: unknown key"),
    ("arch-missing-key", arch_with(("clock_hz",), delete=True), ArchError, "arch.clock_hz: missing key"),
    ("arch-negative-bandwidth", arch_with(("levels", 0, "bandwidth_bytes_per_s"), -1.0), ArchError,
     "arch.levels[0].bandwidth_bytes_per_s: expected a positive number, got -1.0"),
    ("arch-zero-fanout", arch_with(("levels", 1, "fanout"), 0), ArchError,
     "arch.levels[1].fanout: expected a positive number, got 0"),
    ("arch-huge-integer", arch_with(("clock_hz",), 10 ** 400), ArchError, "arch.clock_hz: a 401-digit number"),
    ("arch-nan", arch_with(("units", 0, "ops_per_cycle", "mac"), float("nan")), ArchError,
     "arch.units[0].ops_per_cycle.mac: expected a finite number"),
    ("arch-fractional-pes", arch_with(("units", 0, "pes"), [256, 2.5]), ArchError,
     "arch.units[0].pes[1]: expected an integer, got 2.5"),
    ("arch-duplicate-level", arch_with(("levels", 1, "name"), "DRAM"), ArchError,
     "arch.levels[1].name: duplicate level name 'DRAM'"),
    ("arch-unit-unknown-level", arch_with(("units", 1, "level"), "L3"), ArchError,
     "arch.units[1].level: unknown level 'L3'"),
    ("arch-no-such-level", lambda: accel.level(FUSEMAX, "L2"), ArchError, "arch fusemax: no level 'L2'"),
    ("arch-no-such-unit", lambda: accel.unit(FUSEMAX, "tensor"), ArchError, "arch fusemax: no unit 'tensor'"),
    # --- roofline, mappings, dataflows and infeasible requests ---------------------------------------------
    ("roofline-unknown-einsum", lambda: sim.roofline(workloads.gemm(8, 8, 8), FUSEMAX, binding={"XX": "2d"}),
     MappingError, "binding names unknown Einsum 'XX'"),
    ("roofline-unit-lacks-op", lambda: sim.roofline(workloads.attention("mha", batch=1, heads=1, seq=8, head_dim=4,
                                                                        softmax="3pass"),
                                                    accel.preset("flat"), binding={"GM": "2d"}),
     MappingError, "unit 2d of flat cannot run op 'max'"),
    ("evaluate-no-dataflow", lambda: sim.evaluate(workloads.gemm(8, 8, 8), H100), MappingError,
     "name a dataflow or pass a mapping"),
    ("evaluate-unknown-dataflow", lambda: sim.evaluate(workloads.gemm(8, 8, 8), H100, "flash9"), MappingError,
     "unknown dataflow 'flash9' (valid:"),
    ("head-dim-kernel-cannot-take", evaluate("flash2", head_dim=512), MappingError, "head dim 512 > 256"),
    ("spatial-masked", lambda: sim.evaluate(workloads.attention("mha", batch=1, heads=1, seq=256, head_dim=64,
                                                                causal=True), FUSEMAX, "fusemax"),
     MappingError, "masked attention is not modelled on spatial arrays"),
    ("gpu-not-a-gpu", lambda: sim.evaluate(workloads.gemm(64, 64, 64), FUSEMAX, "gemm"), MappingError,
     "fusemax is not a GPU"),
    ("mapping-unknown-param", evaluate("flash2", {"q_tlie": 64}), MappingError,
     "unknown mapping parameter(s) ['q_tlie']"),
    ("mapping-zero-tile", evaluate("flash2", {"q_tile": 0}), MappingError,
     "mapping parameter q_tile=0 must be a positive integer"),
    ("mapping-negative-tile", evaluate("flash2", {"kv_tile": -64}), MappingError,
     "mapping parameter kv_tile=-64 must be"),
    ("mapping-float-tile", evaluate("flash2", {"q_tile": 64.5}), MappingError, "mapping parameter q_tile=64.5"),
    ("tile-exceeds-shared-memory", evaluate("flash2", {"q_tile": 4096, "kv_tile": 4096}), MappingError,
     "B of shared memory for the Q tile and one K/V stage; an SM has 233472"),
    ("shape-2^40-elements", evaluate("flash2", batch=2 ** 8, heads=2 ** 8, seq=2 ** 18, causal=True), MappingError,
     "too large to place one by one"),
    ("mapping-for-other-dataflow", lambda: sim.evaluate(
        workloads.gemm(64, 64, 64), H100, "flash2",
        mapping=sim.Mapping("gemm", (), {})), MappingError, "dataflow='flash2' but the mapping is for 'gemm'"),
    ("explore-bad-objective", lambda: importlib.import_module("sim.search.exploration").explore(workloads.gemm(8, 8, 8), H100,
                                                                                objective="speed"),
     MappingError, "objective must be one of latency, energy, edp, got 'speed'"),
    ("explore-budget-type", lambda: importlib.import_module("sim.search.exploration").explore(workloads.gemm(8, 8, 8), H100,
                                                                              budget="all"),
     MappingError, "budget must be a positive number of candidates, got 'all'"),
    ("explore-zero-budget", lambda: importlib.import_module("sim.search.exploration").explore(workloads.gemm(8, 8, 8), H100,
                                                                              budget=0),
     MappingError, "budget must be a positive number of candidates, got 0"),
    # --- tile programs and the engine --------------------------------------------------------------------------
    ("program-unknown-unit", program(_unknown_unit), ProgramError, "unknown name 'tensor'"),
    ("program-later-dependency", program(_later_dep), ProgramError, "dependency on op 3, which is not an earlier op"),
    ("program-acquire-over-capacity", program(_over), ProgramError,
     "acquire of 65 bytes exceeds the capacity of buffer 'gb' (64 bytes)"),
    ("program-deadlock", program(_deadlock), ProgramError, "deadlock: segment 's' iteration 1 op 0"),
    ("program-over-release", program(_over_release), ProgramError, "over-release"),
    ("program-zero-repeat", program(_zero_repeat), ProgramError, "field repeat: must be an int >= 1, got 0"),
    ("program-negative-duration", program(_negative), ProgramError, "field duration: negative value -5"),
]


def _area_cases() -> list:
    """More cases, one module per area in tests/battery/ (each defines CASES in the same format)."""
    out = []
    for path in sorted((pathlib.Path(__file__).parent / "battery").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"battery_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out += module.CASES
    return out


CASES += _area_cases()

ERROR_TYPES = [  # (type, module, what raises it)
    (CascadeError, "workloads", "the Einsum parser and `workloads.cascade` (text, sizes, splits, masks), attention "
                                "variant builders, `workloads.execute`, analysis (`passes`, counts), YAML "
                                "`workloads.serialize.load`"),
    (ArchError, "accel", "`accel.from_dict` (the path of the offending key), `accel.preset`, `accel.level` / "
                         "`accel.unit` look-ups"),
    (MappingError, "sim", "`sim.evaluate` and dataflows (`supports` verdicts, `plan` parameter checks, infeasible "
                          "tiles and shapes at `lower`), `sim.roofline` bindings, `sim.explore` arguments"),
    (ProgramError, "sim.ir", "`sim.ir.ProgramBuilder`, `sim.ir.validate`, `sim.engine.simulate` and "
                          "`sim.engine.simulate_reference` (malformed programs, buffer deadlock, over-release, "
                          "more than 2^62 ticks)"),
    (CLIError, "sim.report.cli", "`python -m sim` arguments (arch files, output folders, workload flags, dataflow "
                                 "and baseline names); the command prints the message and exits with status 2"),
    (ValidationError, "validation.errors", "measurement CSVs read by `validation.compare` (format, rows, encoding), "
                                           "its arguments and output folders (the command exits with status 2), "
                                           "harness cases and counts, the FuseMax reproduction's output folder"),
]


# The documented examples: messages that do not list registries, so adding a preset or op does not change them.
DOC_EXAMPLES = {
    CascadeError: ("undefined-tensor", "bad-character", "tile-larger-than-rank", "mask-argument-type",
                   "key-tile-too-large", "execute-wrong-shape", "yaml-unknown-tag"),
    ArchError: ("arch-negative-bandwidth", "arch-unit-unknown-level", "arch-huge-integer", "arch-no-such-level"),
    MappingError: ("head-dim-kernel-cannot-take", "tile-exceeds-shared-memory", "shape-2^40-elements",
                   "mapping-zero-tile", "roofline-unit-lacks-op", "spatial-masked"),
    ProgramError: ("program-unknown-unit", "program-acquire-over-capacity", "program-deadlock"),
    CLIError: ("cli-model-without-seq", "cli-layer-without-model", "cli-layer-two-dataflows"),
    ValidationError: ("validation-unknown-dtype", "validation-causal-not-square", "validation-gna-stride-over-window"),
}


@pytest.mark.parametrize("case_id,call,error,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_documented_error_naming_the_problem(case_id, call, error, fragment):
    """Each bad input raises exactly the documented error type, and the message contains the fragment."""
    with pytest.raises(Exception) as info:
        call()
    assert isinstance(info.value, error), f"{case_id}: {type(info.value).__name__}: {info.value}"
    assert fragment in str(info.value), f"{case_id}: {info.value}"


def test_battery_is_large_and_distinct():
    """At least 40 distinct bad inputs, covering every documented error type."""
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) >= 40
    assert {c[2] for c in CASES} == {t for t, _, _ in ERROR_TYPES}
    assert all(case_id in ids for examples in DOC_EXAMPLES.values() for case_id in examples)


def test_every_error_type_is_a_value_error():
    """Callers can catch every documented error as ValueError."""
    for error, _, _ in ERROR_TYPES:
        assert issubclass(error, ValueError)


def _message(call) -> str:
    try:
        call()
    except (CascadeError, ArchError, MappingError, ProgramError, CLIError, ValidationError) as err:
        return str(err)
    raise AssertionError("no error raised")


def render() -> str:
    """docs/errors.md, from the error types and the first battery case of each (its real message)."""
    lines = ["# Errors", "",
             "Every malformed or infeasible input fails early with one of the error types below, all subclasses of "
             "`ValueError`, whose message names the offending token, key path, Einsum, segment/op or parameter. "
             "Nothing else should escape the public API; `tests/test_fuzz.py` fuzzes the parsers and "
             "`tests/test_bad_inputs.py` holds the battery this page is generated from "
             "(`PYTHONPATH=. python tests/test_bad_inputs.py` rewrites it).", "",
             "| error | import | raised by | example (case id) | example message |",
             "|---|---|---|---|---|"]
    for error, module, what in ERROR_TYPES:
        examples = [c for c in CASES if c[0] in DOC_EXAMPLES[error]]
        for k, (case_id, call, _, _) in enumerate(examples):
            message = _message(call).replace("|", "\\|").replace("\n", " ")
            if len(message) > 160:
                message = message[:157] + "..."
            head = (f"`{error.__name__}`", f"`{module}`", what) if k == 0 else ("", "", "")
            lines.append(f"| {head[0]} | {head[1]} | {head[2]} | `{case_id}` | `` {message} `` |")
    lines += ["",
              "Registries (`workloads.register_op`, `workloads.register_variant`, `sim.register_dataflow`) raise a "
              "plain `ValueError` for a duplicate name: a programming error at import time, not bad input. "
              "`accel.register_preset` raises `ArchError`.",
              "",
              "`sim.explore` does not raise for an infeasible candidate: it records it with status `infeasible` and "
              "the error's type and message as the reason.",
              ""]
    counts = {}
    for _, _, error, _ in CASES:
        counts[error.__name__] = counts.get(error.__name__, 0) + 1
    lines.append("Battery: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + f" ({len(CASES)} cases).")
    return "\n".join(lines) + "\n"


def test_errors_doc_is_generated_from_real_errors():
    """docs/errors.md equals what the battery generates now: every documented example is a real message."""
    assert DOC.exists(), "run `PYTHONPATH=. python tests/test_bad_inputs.py` to write docs/errors.md"
    assert DOC.read_text() == render(), "docs/errors.md is stale: `PYTHONPATH=. python tests/test_bad_inputs.py`"


def test_explore_marks_infeasible_candidates():
    """An infeasible pinned tile gives `infeasible` candidates with the reason, not an exception."""
    from sim.search.exploration import explore
    c = workloads.attention("mha", batch=1, heads=2, seq=256, head_dim=64)
    table = explore(c, H100, dataflows=["flash2"], constraints={"q_tile": 10 ** 6}, budget=2)
    assert table.candidates and all(x.status == "infeasible" for x in table.candidates)
    assert "shared memory" in table.candidates[0].reason


if __name__ == "__main__":
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC}", file=sys.stderr)
