"""Many devices on the command line: `--cluster NAME [--nodes N] --plan tp=2,cp=4,ep=8` on `evaluate --model M
--layer` and on `inference` — a per-device table (compute, communication, overlap, FLOPs, HBM bytes), the
collectives, `--json`/`--csv` records and, with `--plot DIR`, the timeline of every device's compute and link
units."""
from __future__ import annotations

import argparse

import accel

from sim.ir.mapping import MappingError
from sim.parallel import evaluate, inference, plan as parse_plan
from sim.report.cli.inputs import CLIError, build_workload, load_model, output_folder, shown
from sim.report.cli.output import emit, say, table
from sim.report.plots.devices import plot_device_timeline

DEVICE_HEAD = ["device", "role", "compute ms", "comm ms", "overlapped ms", "TFLOP", "HBM GB", "energy J"]


def plan_flag(text: str):
    """The `--plan` value: a plan string such as 'tp=2,cp=4' (argparse turns a refusal into exit status 2)."""
    try:
        return parse_plan(text)
    except MappingError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_cluster_flags(p: argparse.ArgumentParser) -> None:
    """`--cluster`, `--nodes` and `--plan` on a subcommand."""
    g = p.add_argument_group("many devices (instead of --arch)")
    g.add_argument("--cluster", help=f"a node preset ({', '.join(accel.CLUSTERS)})")
    g.add_argument("--nodes", type=_nodes, default=1, metavar="N",
                   help="nodes of the --cluster preset joined by their NICs (default 1)")
    g.add_argument("--plan", type=plan_flag, metavar="SPEC", help="parallel plan, e.g. tp=2,cp=4,ep=8 (default: "
                   "one device)")


def _nodes(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1 << 20:
        raise argparse.ArgumentTypeError(f"expected a number of nodes in [1, 2^20], got {text[:40]!r}")
    return int(text)


def many_devices(args: argparse.Namespace, layer: bool = True) -> bool:
    """Whether the command runs on a cluster (`--cluster`); refuses a missing target, or a plan without one."""
    if args.cluster is not None:
        if not layer:
            raise CLIError("--cluster: evaluate takes a cluster for a whole layer (--model NAME --layer)")
        return True
    if args.arch is None:
        raise CLIError("--arch: name a device (preset or arch file), or --cluster NAME for many devices")
    if args.plan is not None and not args.plan.trivial:
        raise CLIError(f"--plan: {args.plan} spreads work over {args.plan.devices} devices; give --cluster NAME")
    return False


def load_cluster(args: argparse.Namespace):
    """The cluster `--cluster` and `--nodes` name (CLIError naming the flag)."""
    if args.arch is not None:
        raise CLIError("--cluster: give --arch (one device) or --cluster (many), not both")
    try:
        node = accel.preset(args.cluster)
    except accel.ArchError as e:
        raise CLIError(f"--cluster: {e}") from None
    if not isinstance(node, accel.Cluster):
        raise CLIError(f"--cluster: {shown(args.cluster)} is a single device; name a node preset "
                       f"({', '.join(accel.CLUSTERS)}) or use --arch")
    try:
        return node if args.nodes == 1 else accel.cluster(node, nodes=args.nodes)
    except accel.ArchError as e:
        raise CLIError(f"--nodes: {e}") from None


def device_rows(r) -> list[dict]:
    """One row per device of a `ParallelResult`."""
    return [{"device": d.device, "role": d.role, "compute_s": d.compute_s, "comm_s": d.comm_s,
             "overlapped_s": d.overlapped_s, "link_s": d.link_s, "nic_s": d.nic_s, "flops": d.flops,
             "hbm_bytes": d.hbm_bytes, "energy_j": d.energy_j} for d in r.devices]


def parallel_record(r) -> dict:
    """Every figure of a `ParallelResult`, as plain data."""
    return {"workload": r.workload, "cluster": r.cluster, "plan": str(r.plan), "latency_s": r.latency_s,
            "exposed_s": r.exposed_s, "communication_s": r.communication_s, "overlapped_s": r.overlapped_s,
            "load_balance": r.load_balance, "energy_j": r.energy_j, "flops": r.flops,
            "memory_note": r.memory.note if r.memory else None,
            "collectives": [{"name": c.name, "kind": c.kind, "nbytes": c.nbytes, "group": c.group,
                             "seconds": c.seconds, "count": c.count, "unit": c.unit} for c in r.collectives],
            "devices": device_rows(r), "notes": list(r.notes)}


def device_table(r) -> str:
    """The per-device rows as a text table."""
    return table([(d.device, d.role, d.compute_s * 1e3, d.comm_s * 1e3, d.overlapped_s * 1e3, d.flops / 1e12,
                   d.hbm_bytes / 1e9, d.energy_j) for d in r.devices], DEVICE_HEAD)


def cmd_parallel_layer(args: argparse.Namespace) -> int:
    """`evaluate --model M --layer --cluster C --plan P`: the layer under the plan, device by device."""
    cluster = load_cluster(args)
    c = build_workload(args)
    folder = output_folder(args.plot, "--plot") if args.plot else None
    pins = {"attention": {"dataflow": args.dataflow[0]}} if args.dataflow else None
    try:
        r = evaluate(c, cluster, constraints=pins, plan=args.plan)
    except MappingError as e:
        raise CLIError(f"--plan: {e}") from None
    if not hasattr(r, "devices"):       # a trivial plan: the single-device result
        emit(args, {"workload": r.workload, "arch": r.arch, "latency_s": r.latency_s}, lambda: str(r))
        return 0
    emit(args, parallel_record(r), lambda: f"{r}\n\n{device_table(r)}", device_rows(r))
    if folder is not None:
        say(args, [plot_device_timeline(r, folder / f"devices_{c.name}_{cluster.name}.png")])
    return 0


def cmd_parallel_inference(args: argparse.Namespace) -> int:
    """`inference --cluster C --plan P`: the model served under the plan."""
    cluster = load_cluster(args)
    m = load_model(args)
    folder = output_folder(args.plot, "--plot") if args.plot else None
    try:
        run = inference(m, cluster, prompt=args.prompt, batch=args.batch, output_tokens=args.output_tokens,
                        memory_policy=args.memory, plan=args.plan)
    except MappingError as e:
        raise CLIError(str(e).replace("memory='flag'", "--memory flag")) from None
    if not hasattr(run, "plan"):
        emit(args, {"model": run.model, "arch": run.arch, "ttft_s": run.ttft_s, "tpot_s": run.tpot_s,
                    "tokens_per_s": run.tokens_per_s}, lambda: str(run))
        return 0
    record = {"model": run.model, "cluster": run.cluster, "plan": str(run.plan), "prompt": run.prompt,
              "batch": run.batch, "output_tokens": run.output_tokens, "ttft_s": run.ttft_s, "tpot_s": run.tpot_s,
              "tokens_per_s": run.tokens_per_s, "memory_note": run.memory.note, "fits": run.memory.fits,
              "prefill": parallel_record(run.prefill),
              "decode": [parallel_record(r) for r in run.decode[:1]]}
    emit(args, record, lambda: f"{run}\n\nprefill per device:\n{device_table(run.prefill)}",
         [{k: v for k, v in record.items() if not isinstance(v, (list, dict))}])
    if folder is not None:
        say(args, [plot_device_timeline(run.prefill, folder / f"devices_{m.name}_{cluster.name}_prefill.png")])
    return 0
