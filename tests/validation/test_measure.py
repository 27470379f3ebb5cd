"""Tests of the GPU measurement harness (validation/measure.py and its modules), run on the CPU with tiny shapes."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from validation.data import fa2_public  # noqa: E402
from validation.harness import counts  # noqa: E402
from validation.harness.cases import STATUSES  # noqa: E402
from validation.harness.gna import dense_gna_mask, flex_mask_mod, gna_pairs  # noqa: E402
from validation.harness.measure import COLUMNS, SUITES, main  # noqa: E402
from validation.harness.suites.decode import choose_splits, split_kv_attention  # noqa: E402
from validation.harness.timing import quantile, summarize  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- suites end to end
def _run_and_check(suite: str, device: str, tmp_path: Path) -> list[dict]:
    out = tmp_path / f"{suite}.csv"
    assert main(["--suite", suite, "--device", device, "--out", str(out), "--quick", "--reps", "3"]) == 0
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        rows = list(reader)
    assert rows
    assert {r["suite"] for r in rows} == {suite}
    assert any(r["status"] == "ok" for r in rows)
    for r in rows:
        assert r["status"] in STATUSES
        assert r["device_type"] == device and r["torch"] == torch.__version__ and r["timestamp_utc"]
        if r["status"] == "ok":
            for col in ("time_ms", "min_ms", "p20_ms", "p80_ms", "max_ms"):
                assert math.isfinite(float(r[col])) and float(r[col]) > 0, (r["case"], col)
            assert float(r["min_ms"]) <= float(r["p20_ms"]) <= float(r["time_ms"]) <= float(r["p80_ms"])
            assert int(r["reps"]) >= 3 and r["backend_ran"]
            assert float(r["tflops"] or r["gbps"]) > 0
        else:
            assert r["reason"], (r["case"], r["status"])
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["rows"] == len(rows) and meta["suites"] == [suite]
    return rows


@pytest.mark.parametrize("suite", list(SUITES))
def test_suite_runs_on_cpu(suite: str, tmp_path: Path) -> None:
    """Each suite runs end to end on the CPU (tiny shapes) into a CSV with the documented columns; ok rows have
    positive finite times and rates, every non-ok row carries a reason, and a meta.json is written beside it."""
    rows = _run_and_check(suite, "cpu", tmp_path)
    assert all(int(r["reps"]) == 3 for r in rows if r["status"] == "ok")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("suite", list(SUITES))
def test_suite_runs_on_cuda_quick(suite: str, tmp_path: Path) -> None:
    """On a GPU, each suite's tiny shapes run with CUDA timing (events or graph replays) and device metadata."""
    rows = _run_and_check(suite, "cuda", tmp_path)
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(r["timing_mode"] in ("cuda_events", "cuda_graph") for r in ok)
    assert all(r["device_name"] and int(r["sm_count"]) > 0 for r in rows)


def test_time_budget_skips_rows(tmp_path: Path) -> None:
    """With a budget already used up, every case is recorded as skipped with reason 'time budget'."""
    out = tmp_path / "g.csv"
    assert main(["--suite", "gemm", "--device", "cpu", "--out", str(out), "--time-budget-s", "1e-9"]) == 0
    rows = list(csv.DictReader(out.open(newline="")))
    assert rows and all(r["status"] == "skipped" and r["reason"].startswith("time budget") for r in rows)


def test_unavailable_backends_are_recorded_not_replaced(tmp_path: Path) -> None:
    """A pinned SDPA backend that cannot run here gives an 'unsupported' row, never a silent fallback; with
    --kernel-names the profiled operator of a pinned-flash row is the flash kernel."""
    out = tmp_path / "a.csv"
    main(["--suite", "attention", "--device", "cpu", "--out", str(out), "--reps", "2", "--kernel-names"])
    rows = list(csv.DictReader(out.open(newline="")))
    cudnn = [r for r in rows if r["backend_requested"] == "sdpa_cudnn"]
    assert cudnn and all(r["status"] == "unsupported" and r["time_ms"] == "" for r in cudnn)
    packages = [r for r in rows if r["form"] == "flash_package"]   # FlashAttention-2/-3 packages: CUDA only
    assert {r["backend_requested"] for r in packages} == {"flash_attn", "flash_attn3"}
    assert all(r["status"] == "unsupported" and "CUDA GPUs only" in r["reason"] for r in packages)
    for r in rows:
        if r["status"] == "ok":
            assert r["backend_ran"] == r["backend_requested"] and r["kernel"]
            if r["backend_requested"] == "sdpa_flash":
                assert "flash" in r["kernel"]


# ---------------------------------------------------------------- CLI errors
@pytest.mark.parametrize("argv, bad", [
    (["--suite", "nope", "--device", "cpu", "--out", "x.csv"], "nope"),
    (["--suite", "gemm", "--device", "tpu", "--out", "x.csv"], "tpu"),
    (["--suite", "gemm", "--device", "cpu", "--out", "x.csv", "--reps", "0"], "0"),
])
def test_bad_cli_exits_2(argv: list[str], bad: str, capsys: pytest.CaptureFixture) -> None:
    """Bad arguments exit with code 2 and a message naming the bad value and the valid choices."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert bad in err and "valid suites" in err and "cpu" in err


def test_out_that_cannot_be_written_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An --out that is a directory, or inside a file, exits 2 naming --out before any case runs."""
    (tmp_path / "file").write_text("x")
    for out in (tmp_path, tmp_path / "file" / "x.csv"):
        assert main(["--suite", "gemm", "--device", "cpu", "--out", str(out), "--quick"]) == 2
        err = capsys.readouterr().err
        assert "--out" in err and str(out) in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_cuda_without_gpu_exits_2(tmp_path: Path) -> None:
    """`--device cuda` with no GPU exits 2 (as a real subprocess) and says which devices are valid."""
    proc = subprocess.run([sys.executable, "-m", "validation.measure", "--suite", "gemm", "--device", "cuda",
                           "--out", str(tmp_path / "x.csv")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "cuda" in proc.stderr and "valid devices here: cpu" in proc.stderr
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------- GNA predicate
@pytest.mark.parametrize("spatial, window, stride, dilation", [
    ((16,), (5,), (1,), (1,)), ((16,), (4,), (1,), (1,)), ((17,), (6,), (3,), (1,)), ((12,), (3,), (2,), (2,)),
    ((8, 9), (3, 4), (1, 2), (1, 1)), ((6, 8), (4, 4), (2, 4), (1, 2)), ((4, 6, 5), (2, 3, 5), (2, 1, 5), (1, 1, 1)),
])
def test_gna_noncausal_exactly_window_keys(spatial, window, stride, dilation) -> None:
    """Every non-causal query sees exactly prod(window) keys (the window shifts at borders), for any stride."""
    mask = dense_gna_mask(spatial, window, stride, dilation)
    assert (mask.sum(axis=1) == math.prod(window)).all()
    assert gna_pairs(spatial, window, stride, dilation, (False,) * len(spatial)) == mask.sum()


@pytest.mark.parametrize("spatial, window", [((16,), (4,)), ((8, 12), (4, 3)), ((4, 4, 6), (2, 4, 3))])
def test_gna_stride_equal_window_is_blocked(spatial, window) -> None:
    """Stride = window gives disjoint blocks: the mask is an equivalence relation (symmetric, blocks of prod(w))."""
    mask = dense_gna_mask(spatial, window, window)
    assert (mask == mask.T).all() and mask.diagonal().all()
    assert ((mask.astype(int) @ mask.astype(int)) > 0).sum() == mask.sum()  # transitive: A·A has A's support
    n_blocks = math.prod(s // w for s, w in zip(spatial, window))
    assert len({row.tobytes() for row in mask}) == n_blocks


@pytest.mark.parametrize("length, window", [(10, 1), (10, 4), (33, 8), (8, 8)])
def test_gna_causal_stride1_1d(length: int, window: int) -> None:
    """Causal, stride 1, 1-D: query i sees min(i+1, w) keys, all at or before i (the sliding window)."""
    mask = dense_gna_mask((length,), (window,), (1,), causal=(True,))
    i = np.arange(length)
    assert (mask.sum(axis=1) == np.minimum(i + 1, window)).all()
    assert not np.triu(mask, k=1).any()
    assert gna_pairs((length,), (window,), (1,), (1,), (True,)) == mask.sum()


def test_gna_causal_strided_and_full_window() -> None:
    """Causal counts match the pair formula with stride > 1; window = input non-causal is full self-attention."""
    mask = dense_gna_mask((6, 10), (3, 4), (1, 2), causal=(True, False))
    assert gna_pairs((6, 10), (3, 4), (1, 2), (1, 1), (True, False)) == mask.sum()
    assert dense_gna_mask((5, 6), (5, 6), (1, 3)).all()


def test_gna_rejects_invalid() -> None:
    """stride > window and window·dilation > input are refused with the reason."""
    with pytest.raises(ValueError, match="stride"):
        dense_gna_mask((8,), (2,), (3,))
    with pytest.raises(ValueError, match="dilation"):
        dense_gna_mask((8,), (5,), (1,), (2,))


@pytest.mark.parametrize("spatial, window, stride, dilation, causal", [
    ((32,), (8,), (4,), (1,), (False,)), ((32,), (8,), (1,), (1,), (True,)), ((30,), (5,), (2,), (3,), (False,)),
    ((6, 8), (3, 4), (3, 2), (1, 1), (False, False)), ((4, 4, 4), (2, 3, 2), (1, 1, 2), (1, 1, 1), (True, False, False)),
])
def test_flex_mask_mod_matches_numpy(spatial, window, stride, dilation, causal) -> None:
    """The torch mask_mod handed to FlexAttention (tensor parameters, padded to 3-D) equals the numpy predicate."""
    n = math.prod(spatial)
    mod = flex_mask_mod(spatial, window, stride, dilation, causal, "cpu")
    idx = torch.arange(n)
    got = mod(0, 0, idx[:, None], idx[None, :]).numpy()
    assert (got == dense_gna_mask(spatial, window, stride, dilation, causal)).all()


# ---------------------------------------------------------------- counts
def test_flop_and_byte_helpers() -> None:
    """FLOP/byte helpers against hand-computed values; causal pairs are bottom-right aligned and exact."""
    assert counts.dense_pairs(5, 7) == 35
    assert counts.dense_pairs(8, 8, causal=True) == 36              # 1 + 2 + ... + 8
    assert counts.dense_pairs(1, 1024, causal=True) == 1024         # one decode token sees every key
    assert counts.dense_pairs(4, 1024, causal=True) == 1021 + 1022 + 1023 + 1024
    assert counts.dense_pairs(8, 4, causal=True) == 1 + 2 + 3 + 4    # the first 4 queries see no key
    assert counts.attention_flops(2, 3, 35, 8) == 4 * 2 * 3 * 35 * 8
    assert counts.attention_flops(2, 128, 1024, 576, 512) == 2 * 2 * 128 * 1024 * 1088
    # FA benchmark point: B=1, S=16K, H=16, D=128 -> 4*1*16384^2*16*128
    assert counts.attention_flops(1, 16, counts.dense_pairs(16384, 16384), 128) == 2199023255552.0
    # q 1*4*3*8 + kv 1*2*5*(8+8) + o 1*4*3*8 = 96 + 160 + 96 = 352 elements, bf16
    assert counts.attention_bytes(1, 4, 2, 3, 5, 8, None, 2) == 704
    assert counts.gemm_flops(2, 3, 4) == 48 and counts.gemm_bytes(2, 3, 4, 2, 4) == (8 + 12) * 2 + 6 * 4
    assert counts.copy_bytes(1000) == 2000
    assert counts.tflops(1e12, 1000.0) == pytest.approx(1.0)
    assert counts.gbps(3e9, 1000.0) == pytest.approx(3.0)
    assert fa2_public.time_ms_from_tflops(2e12, 4.0) == pytest.approx(500.0)
    with pytest.raises(ValueError, match="unknown dtype"):
        counts.dtype_bytes("int3")


def test_causal_sdpa_cases_need_square_masks() -> None:
    """SDPA's is_causal is top-left aligned, so a causal case with seq_q != seq_kv (another mask than the
    bottom-right one every count assumes) is refused when the case is built."""
    from validation.harness.suites.sdpa import sdpa_case

    with pytest.raises(ValueError, match="seq_q == seq_kv"):
        sdpa_case("decode", "x", "bfloat16", "flash", 1, 8, 8, 4, 1024, 64, causal=True)


def test_quantiles() -> None:
    """Timing spread uses numpy's linear quantiles."""
    s = [5.0, 1.0, 3.0, 2.0, 4.0]
    t = summarize(s, "perf_counter")
    assert (t.median_ms, t.min_ms, t.max_ms, t.reps) == (3.0, 1.0, 5.0, 5)
    assert t.p20_ms == pytest.approx(np.quantile(s, 0.2)) and t.p80_ms == pytest.approx(np.quantile(s, 0.8))
    assert quantile([7.0], 0.5) == 7.0


# ---------------------------------------------------------------- split-KV decode
@pytest.mark.parametrize("hq, g, sq, skv, d, dv, splits", [(8, 2, 1, 64, 16, 16, 4), (4, 1, 4, 96, 24, 16, 3),
                                                            (6, 6, 2, 32, 8, 8, 1)])
def test_split_kv_matches_sdpa(hq, g, sq, skv, d, dv, splits) -> None:
    """The explicit split-KV (per-chunk out + log-sum-exp, then merge) equals SDPA's math backend."""
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, hq, sq, d, generator=gen, dtype=torch.float64)
    k = torch.randn(2, g, skv, d, generator=gen, dtype=torch.float64)
    v = torch.randn(2, g, skv, dv, generator=gen, dtype=torch.float64)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k.repeat_interleave(hq // g, 1),
                                                           v.repeat_interleave(hq // g, 1))
    out = split_kv_attention(q, k, v, splits)
    assert torch.allclose(out, ref, atol=1e-10)


def test_choose_splits_divides() -> None:
    """Split count divides the KV length, keeps chunks >= 256 keys, and fills 2×SMs when the batch is small."""
    z = choose_splits(1, 8, 32768, 132)
    assert 32768 % z == 0 and 32768 // z >= 256 and z * 8 >= 132
    assert choose_splits(256, 8, 1024, 132) == 1


# ---------------------------------------------------------------- public FA2 data
def test_fa2_public_dataset() -> None:
    """36 forward FlashAttention-2 H100 points, time_ms round-trips with the FLOP convention, file matches generator."""
    rows = fa2_public.load()
    fwd = [r for r in rows if r["kernel"] == "flash2" and r["pass"] == "fwd"]
    assert len(fwd) == 36 and all(r["gpu"] == "H100 SXM5" and r["tflops"] for r in fwd)
    assert {(r["head_dim"], r["causal"]) for r in fwd} == {(d, c) for d in (64, 128, 256) for c in (False, True)}
    for r in rows:
        assert r["batch"] * r["seq"] == 16384 and r["heads"] * r["head_dim"] == 2048
        fwd_flops = 4 * r["batch"] * r["seq"] ** 2 * r["heads"] * r["head_dim"] / (2 if r["causal"] else 1)
        assert r["flops"] == pytest.approx(fwd_flops * (3.5 if r["pass"] == "fwd_bwd" else 1), rel=1e-5)
        if r["tflops"] is None:
            assert r["reason"] and r["time_ms"] is None
        else:
            assert r["flops"] / (r["time_ms"] * 1e-3) / 1e12 == pytest.approx(r["tflops"], rel=1e-4)
    point = next(r for r in fwd if r["head_dim"] == 128 and not r["causal"] and r["seq"] == 16384)
    assert point["tflops"] == 370 and point["time_ms"] == pytest.approx(2199023255552 / 370e12 * 1e3, rel=1e-5)
    assert sum(r["reason"].startswith("out of memory") for r in rows) == 4
    assert len([r for r in rows if r["kernel"] == "standard"]) == 36
    assert len([r for r in rows if r["pass"] == "fwd_bwd"]) == 48
    with fa2_public.CSV_PATH.open(newline="") as fh:  # committed file == what the transcription script writes
        committed = list(csv.DictReader(fh))
    assert committed == [{k: str(v) for k, v in r.items()} for r in fa2_public.transcribed_rows()]


def test_compiled_flex_uses_each_cases_mask() -> None:
    """Compiled FlexAttention with the GNA block mask equals dense attention under the numpy mask, for several masks in
    a row through the one shared compiled kernel (no stale mask parameters baked into the compiled code)."""
    from torch.nn.attention.flex_attention import create_block_mask

    from validation.harness.suites.local import compiled_flex

    flex = compiled_flex()
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 256, 32, generator=gen).to(torch.bfloat16) for _ in range(3))
    for spatial, window, stride, causal in [((256,), (32,), (8,), (False,)), ((16, 16), (8, 8), (4, 4), (False, False)),
                                            ((256,), (32,), (1,), (True,))]:
        nd = len(spatial)
        mod = flex_mask_mod(spatial, window, stride, (1,) * nd, causal, "cpu")
        bm = create_block_mask(mod, None, None, 256, 256, device="cpu")
        got = flex(q, k, v, block_mask=bm).float()
        mask = torch.from_numpy(dense_gna_mask(spatial, window, stride, causal=causal))
        ref = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
        assert (got - ref).norm() / ref.norm() < 2e-2, (spatial, window, stride, causal)


def test_failure_classification_and_rotation() -> None:
    """Refusals are 'unsupported', memory failures 'oom', anything else 'error'; small inputs rotate over enough
    buffer sets to exceed 3× L2 on a GPU."""
    from validation.harness.cases import Env, classify, rotation_sets

    assert classify(RuntimeError("No available kernel.  Aborting execution.")) == "unsupported"
    assert classify(NotImplementedError("x")) == "unsupported"
    assert classify(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")) == "oom"
    assert classify(ValueError("shape mismatch")) == "error"
    gpu = Env("cuda", False, 132, 50 * 2**20, (9, 0))
    assert rotation_sets(4 * 2**20, gpu, None, 0) * 4 * 2**20 >= 3 * 50 * 2**20
    assert rotation_sets(2**30, gpu, None, 0) == 1
    assert rotation_sets(2**20, gpu, 64 * 2**20, 0) == 32  # capped at half the free memory
