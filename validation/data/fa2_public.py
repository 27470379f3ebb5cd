"""Public FlashAttention-2 numbers as data: the transcription, the CSV writer and a loader.

    python -m validation.data.fa2_public   # regenerates validation/data/fa2_h100_public.csv

Sources: the forward rows (FlashAttention-2 and "Standard" PyTorch attention, H100 SXM5, FP16) are the comparison
figure of Shah et al., "FlashAttention-3: Fast and Accurate Attention with Asynchrony and Low-precision" (2024); the
forward+backward rows (A100 SXM4 and H100 SXM5) are the benchmark figures of the FlashAttention repository
(Dao-AILab/flash-attention; Dao, "FlashAttention-2", 2023).

The sources publish TFLOP/s in FlashAttention's benchmark convention — forward = 4·B·S²·H·D, halved when causal;
forward+backward = 3.5 × forward — so that convention (`published_flops`) is used here, and only here, to turn a
published rate back into the time it was measured as. Everything else counts FLOPs over the attended pairs
(validation.harness.counts); the comparison uses a row's FLOPs only for that rate ↔ time conversion.
"""
from __future__ import annotations

import csv
from pathlib import Path

CSV_PATH = Path(__file__).parent / "fa2_h100_public.csv"
COLUMNS = ["gpu", "kernel", "pass", "dtype", "batch", "seq", "heads", "head_dim", "causal", "tflops", "flops",
           "time_ms", "reason", "source"]
SEQS = (512, 1024, 2048, 4096, 8192, 16384)
TOKENS, HIDDEN = 16384, 2048
SRC_FWD = "FlashAttention-3 paper (Shah et al. 2024), H100 SXM5 forward comparison figure"
SRC_FWD_BWD = "FlashAttention repository (Dao-AILab/flash-attention) benchmark figures, FlashAttention-2 fwd+bwd"
FWD_BWD_FACTOR = 3.5  # FlashAttention's convention: backward = 2.5 × forward

# (head_dim, causal) -> six values for S = 512 ... 16K, exactly as printed; "OOM" and "-" kept as text
FWD_STANDARD = {(64, False): "52/63/67/72/73/OOM", (64, True): "16/18/18/18/18/OOM",
                (128, False): "74/100/119/133/139/OOM", (128, True): "26/31/34/35/35/OOM",
                (256, False): "-/-/-/-/-/-", (256, True): "-/-/-/-/-/-"}
FWD_FLASH2 = {(64, False): "282/306/318/321/322/324", (64, True): "180/229/262/284/295/299",
              (128, False): "309/350/362/368/370/370", (128, True): "191/260/298/319/333/335",
              (256, False): "275/313/321/323/324/326", (256, True): "208/251/278/293/297/298"}
FWD_BWD_FLASH2 = {("A100", 64, False): "132/153/162/171/175/176", ("A100", 128, False): "-/-/187/196/201/203",
                  ("A100", 64, True): "88/119/140/156/165/171", ("A100", 128, True): "99/133/155/173/182/189",
                  ("H100", 64, False): "215/254/274/288/294/296", ("H100", 128, False): "248/294/320/326/335/338",
                  ("H100", 64, True): "141/192/232/257/273/284", ("H100", 128, True): "163/221/265/294/308/328"}
GPU_NAMES = {"H100": "H100 SXM5", "A100": "A100 SXM4"}


def published_flops(pass_: str, seq: int, head_dim: int, causal: bool) -> float:
    """FLOPs the sources divide by the time of one benchmark point (B·S = 16K tokens, hidden 2048): FlashAttention's
    convention, 4·B·S²·H·D forward, halved when causal, × 3.5 forward+backward."""
    fwd = 4.0 * (TOKENS // seq) * seq * seq * (HIDDEN // head_dim) * head_dim / (2 if causal else 1)
    return fwd * FWD_BWD_FACTOR if pass_ == "fwd_bwd" else fwd


def time_ms_from_tflops(flops: float, tflops_value: float) -> float:
    """The time a published TFLOP/s figure implies."""
    return flops / (tflops_value * 1e12) * 1e3


def _rows(gpu: str, kernel: str, pass_: str, head_dim: int, causal: bool, values: str, source: str) -> list[dict]:
    rows = []
    for seq, text in zip(SEQS, values.split("/"), strict=True):
        flops = published_flops(pass_, seq, head_dim, causal)
        row = dict(gpu=GPU_NAMES[gpu], kernel=kernel, pass_=pass_, dtype="float16", batch=TOKENS // seq, seq=seq,
                   heads=HIDDEN // head_dim, head_dim=head_dim, causal=int(causal), tflops="", flops=f"{flops:.17g}",
                   time_ms="", reason="", source=source)
        if text == "OOM":
            row["reason"] = "out of memory (OOM in source)"
        elif text == "-":
            row["reason"] = "not reported ('-' in source)"
        else:
            row["tflops"] = text
            row["time_ms"] = f"{time_ms_from_tflops(flops, float(text)):.6g}"
        row["pass"] = row.pop("pass_")
        rows.append(row)
    return rows


def transcribed_rows() -> list[dict]:
    """Every transcribed row, in the CSV's order (the committed CSV must equal this)."""
    rows: list[dict] = []
    for (d, causal), vals in FWD_STANDARD.items():
        rows += _rows("H100", "standard", "fwd", d, causal, vals, SRC_FWD)
    for (d, causal), vals in FWD_FLASH2.items():
        rows += _rows("H100", "flash2", "fwd", d, causal, vals, SRC_FWD)
    for (gpu, d, causal), vals in FWD_BWD_FLASH2.items():
        rows += _rows(gpu, "flash2", "fwd_bwd", d, causal, vals, SRC_FWD_BWD)
    return rows


def write_csv(path: Path = CSV_PATH) -> None:
    """Write the transcription as the CSV."""
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(transcribed_rows())


def load(path: Path = CSV_PATH) -> list[dict]:
    """Rows with numeric fields converted (tflops/time_ms None where the source has no value)."""
    out = []
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            out.append(dict(r, batch=int(r["batch"]), seq=int(r["seq"]), heads=int(r["heads"]),
                            head_dim=int(r["head_dim"]), causal=bool(int(r["causal"])), flops=float(r["flops"]),
                            tflops=float(r["tflops"]) if r["tflops"] else None,
                            time_ms=float(r["time_ms"]) if r["time_ms"] else None))
    return out


def main() -> None:
    """Regenerate the committed CSV from the transcription."""
    write_csv()
    print(f"wrote {CSV_PATH} ({len(transcribed_rows())} rows)")


if __name__ == "__main__":
    main()
