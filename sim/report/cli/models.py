"""The whole-layer and whole-model commands: `evaluate --model NAME --layer` (the layer kernel by kernel) and
`inference` (prefill, decode with a growing KV cache, memory), each with a per-kernel table, `--json`/`--csv`
records and `--plot` figures (a stacked per-kernel time bar, a roofline with one point per kernel)."""
from __future__ import annotations

import argparse


from sim.ir.mapping import MappingError
from sim.models import evaluate, inference, per_kernel
from sim.report import plots
from sim.report.cli.inputs import CLIError, build_workload, load_arch, load_model, output_folder
from sim.report.cli.output import emit, result_record, say, table
from sim.report.cli.parallel import cmd_parallel_inference, cmd_parallel_layer, many_devices

KERNEL_HEAD = ["kernel", "kind", "dataflow", "ms", "share", "DRAM MB", "binds"]


def kernel_table(r) -> str:
    """The per-kernel rows of a layer or phase result as a text table."""
    rows = [(k["kernel"], k["kind"], k["dataflow"] + (f" ×{k['launches']}" if k["launches"] > 1 else ""),
             k["seconds"] * 1e3, f"{k['share']:.1%}", k["dram_bytes"] / 1e6, k["binds"]) for k in per_kernel(r)]
    return table(rows, KERNEL_HEAD)


def cmd_layer(args: argparse.Namespace) -> int:
    """`evaluate --model NAME --layer`: the whole layer, each kernel on its best dataflow (`--dataflow` pins the
    attention kernel's)."""
    if many_devices(args):
        return cmd_parallel_layer(args)
    arch = load_arch(args.arch)
    c = build_workload(args)
    folder = output_folder(args.plot, "--plot") if args.plot else None
    if args.dataflow and len(args.dataflow) > 1:
        raise CLIError("--dataflow: with --layer, name one dataflow (it pins the attention kernel)")
    pins = {"attention": {"dataflow": args.dataflow[0]}} if args.dataflow else None
    try:
        r = evaluate(c, arch, constraints=pins)
    except MappingError as e:
        raise CLIError(f"--layer: {e}") from None
    emit(args, {**result_record(r), "per_kernel": per_kernel(r)},
         lambda: f"{r}\n\n{kernel_table(r)}", per_kernel(r))
    if folder is not None:
        stem = f"{c.name}_{arch.name}"
        say(args, [plots.plot_kernel_bars({c.name: r}, folder / f"kernels_{stem}.png",
                                          title=f"{c.name} on {arch.name}"),
                   plots.plot_kernel_roofline(r, arch, folder / f"kernel_roofline_{stem}.png")])
    return 0


def inference_record(run) -> dict:
    """Every figure of an `Inference`, as plain data (what `inference --json` prints)."""
    phases = [run.prefill, *run.decode]
    return {"model": run.model, "arch": run.arch, "prompt": run.prompt, "batch": run.batch,
            "output_tokens": run.output_tokens, "ttft_s": run.ttft_s, "tpot_s": run.tpot_s,
            "tokens_per_s": run.tokens_per_s, "energy_per_token_j": run.energy_per_token_j,
            "memory_bytes": run.memory_bytes, "weight_bytes": run.memory.weight_bytes,
            "kv_cache_bytes": run.memory.kv_cache_bytes, "fits": run.memory.fits, "memory_note": run.memory.note,
            "decode_kv": list(run.decode_kv), "notes": list(run.notes),
            "phases": [{"phase": r.workload, "latency_s": r.latency_s, "dram_bytes": r.dram_bytes,
                        "energy_j": r.energy_j, "attention_share": r.share("attention"),
                        "kernels": dict(r.kernels)} for r in phases]}


def cmd_inference(args: argparse.Namespace) -> int:
    """`inference --model NAME --arch ARCH --prompt N`: TTFT, TPOT, tokens/s, J/token and memory (`--cluster`:
    under a parallel plan)."""
    if many_devices(args):
        return cmd_parallel_inference(args)
    arch = load_arch(args.arch)
    m = load_model(args)
    folder = output_folder(args.plot, "--plot") if args.plot else None
    try:
        run = inference(m, arch, prompt=args.prompt, batch=args.batch, output_tokens=args.output_tokens,
                        memory_policy=args.memory)
    except MappingError as e:
        raise CLIError(str(e).replace("memory='flag'", "--memory flag")) from None
    record = inference_record(run)
    last = run.decode[-1] if run.decode else None
    text = lambda: "\n\n".join([str(run), "prefill:\n" + kernel_table(run.prefill)]  # noqa: E731
                               + ([f"decode step at KV {run.decode_kv[-1]}:\n" + kernel_table(last)] if last else []))
    emit(args, record, text, [{k: v for k, v in record.items() if not isinstance(v, (list, dict))}])
    if folder is not None:
        bars = {"prefill": run.prefill, **({f"decode @{run.decode_kv[-1]}": last} if last else {})}
        stem = f"{m.name}_{arch.name}"
        say(args, [plots.plot_kernel_bars(bars, folder / f"inference_{stem}.png",
                                          title=f"{m.name} on {arch.name}: batch {run.batch}, prompt {run.prompt}"),
                   plots.plot_kernel_roofline(run.prefill, arch, folder / f"prefill_roofline_{stem}.png")])
    return 0


__all__ = ["cmd_inference", "cmd_layer", "inference_record", "kernel_table"]
