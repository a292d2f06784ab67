"""What machine the numbers come from: CPU model, cores, the int8 dot-product instructions, library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp")  # x86 VNNI/AMX, ARM dot product ("dotprod")


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def describe() -> dict[str, Any]:
    import onnxruntime as ort

    cpu = _cpuinfo()
    flags = set((cpu.get("flags") or cpu.get("Features") or "").split())
    return {
        "cpu": cpu.get("model name") or cpu.get("Model") or platform.processor() or platform.machine(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "int8_dot": sorted(f for f in INT8_FLAGS if f in flags),
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
    }


def line(machine: dict[str, Any]) -> str:
    dot = ", ".join(machine["int8_dot"]) or "none (int8 may not pay)"
    return (f"{machine['cpu']} ({machine['arch']}), {machine['cores']} cores, int8 dot-product: {dot}; "
            f"onnxruntime {machine['onnxruntime']}, Python {machine['python']}")
