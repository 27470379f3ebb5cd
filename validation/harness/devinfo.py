"""Read-only device metadata: what the rows were measured on. Never changes any device setting."""
from __future__ import annotations

import datetime
import platform
import socket
import subprocess
from typing import Any

META_COLUMNS = ["device_type", "device_name", "sm_count", "l2_bytes", "total_mem_bytes", "compute_capability",
                "driver", "cuda", "cudnn", "torch", "triton", "python", "hostname"]


def _nvidia_smi(fields: str) -> list[str] | None:
    """One read-only `nvidia-smi --query-gpu` call for GPU 0; None when unavailable."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.strip().splitlines()
    return [x.strip() for x in line[0].split(",")] if line else None


class ClockReader:
    """Current SM and memory clocks in MHz (pynvml if importable, else nvidia-smi, else blanks)."""

    def __init__(self, device_type: str):
        self.handle = None
        self.nvml = None
        self.enabled = device_type == "cuda"
        if not self.enabled:
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # pynvml missing or no NVML: fall back to nvidia-smi
            self.nvml = None

    def read(self) -> tuple[str, str]:
        """(SM clock, memory clock) in MHz now, as strings (blank when unknown)."""
        if not self.enabled:
            return "", ""
        if self.nvml is not None:
            try:
                sm = self.nvml.nvmlDeviceGetClockInfo(self.handle, self.nvml.NVML_CLOCK_SM)
                mem = self.nvml.nvmlDeviceGetClockInfo(self.handle, self.nvml.NVML_CLOCK_MEM)
                return str(sm), str(mem)
            except Exception:
                pass
        vals = _nvidia_smi("clocks.sm,clocks.mem")
        return (vals[0], vals[1]) if vals and len(vals) == 2 else ("", "")


def collect(device_type: str) -> dict[str, Any]:
    """Metadata of the device and software stack, keyed by META_COLUMNS plus a few extras for the .meta.json."""
    import torch

    meta: dict[str, Any] = {k: "" for k in META_COLUMNS}
    meta.update(device_type=device_type, torch=torch.__version__, python=platform.python_version(),
                hostname=socket.gethostname())
    try:
        import triton

        meta["triton"] = triton.__version__
    except Exception:
        meta["triton"] = ""
    if device_type == "cuda":
        props = torch.cuda.get_device_properties(0)
        meta.update(device_name=props.name, sm_count=props.multi_processor_count,
                    l2_bytes=getattr(props, "L2_cache_size", ""), total_mem_bytes=props.total_memory,
                    compute_capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda or "",
                    cudnn=torch.backends.cudnn.version() or "")
        smi = _nvidia_smi("driver_version,clocks.max.sm,clocks.max.mem,power.limit,pstate")
        if smi:
            meta["driver"] = smi[0]
            meta["extra_nvidia_smi"] = dict(zip(["driver", "max_sm_mhz", "max_mem_mhz", "power_limit_w", "pstate"], smi))
    else:
        meta.update(device_name=platform.processor() or platform.machine(), sm_count=torch.get_num_threads())
        try:
            import os

            meta["total_mem_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            pass
    meta["started_utc"] = utc_now()
    return meta


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_memory_bytes(device_type: str) -> int | None:
    """Free device memory now (CUDA), or None (CPU: not checked)."""
    if device_type != "cuda":
        return None
    import torch

    free, _total = torch.cuda.mem_get_info()
    return int(free)
