"""Energy counters, where the machine has one: Linux RAPL (CPU packages) and NVML (NVIDIA GPUs).

A counter is read before and after each timed round of a group's model work; the report
gives joules per 1,000 cases. Neither counter isolates this process: RAPL counts the whole
CPU package and NVML the whole GPU, so other work on the machine adds to the figure. Where
no counter can be read the report says why instead of showing a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

POWERCAP = Path("/sys/class/powercap")
_PACKAGE = re.compile(r"^intel-rapl:\d+$")  # top-level package domains; sub-domains would double count


@dataclass
class EnergyCounter:
    """``read()`` gives a monotone energy reading in joules (wrap-around handled)."""

    source: str
    _read_raw: Callable[[], list[float]]
    _ranges: list[float]
    _last: list[float] | None = None
    _total: float = 0.0

    def read(self) -> float:
        raw = self._read_raw()
        if self._last is not None:
            for before, after, span in zip(self._last, raw, self._ranges):
                self._total += after - before if after >= before else after + span - before
        self._last = raw
        return self._total


def _rapl(root: Path) -> tuple[EnergyCounter | None, str]:
    if not root.is_dir():
        return None, f"no RAPL counter ({root} does not exist)"
    domains = sorted(p for p in root.iterdir() if _PACKAGE.match(p.name))
    if not domains:
        return None, f"no RAPL package domain under {root}"
    try:
        ranges = [int((d / "max_energy_range_uj").read_text()) / 1e6 for d in domains]
        for d in domains:
            int((d / "energy_uj").read_text())
    except (OSError, ValueError) as exc:
        return None, f"RAPL counter not readable ({type(exc).__name__}: {exc}; reading it usually needs root)"

    def read_raw() -> list[float]:
        return [int((d / "energy_uj").read_text()) / 1e6 for d in domains]

    return EnergyCounter(f"RAPL ({len(domains)} CPU package(s), whole package)", read_raw, ranges), ""


def _nvml(device: str) -> tuple[EnergyCounter | None, str]:
    try:
        import pynvml  # from the nvidia-ml-py package
    except ImportError:
        return None, "NVML not available (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
        index = int(device.split(":")[1]) if ":" in device else 0
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:  # noqa: BLE001 - NVML raises its own error per missing feature
        return None, f"NVML energy counter not available ({type(exc).__name__}: {exc})"

    def read_raw() -> list[float]:
        return [pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3]  # millijoules

    return EnergyCounter(f"NVML (GPU {index}, whole device)", read_raw, [float(2**64) / 1e3]), ""


def detect(device: str, powercap: Path = POWERCAP) -> tuple[EnergyCounter | None, str]:
    """The energy counter for work on ``device`` ("cpu", "cuda", "cuda:N"), or None and why not."""
    if device == "remote":
        return None, "a served model's energy is spent on its server, which this machine cannot meter"
    if device.startswith("cuda"):
        return _nvml(device)
    return _rapl(powercap)
