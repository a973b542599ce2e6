"""How much memory a local candidate holds: bytes held now, and the peak over a stretch of model
work (CUDA allocator statistics on a GPU, the process's resident set on a CPU)."""

from __future__ import annotations

import gc
import sys

import torch

__all__ = ["current_memory", "read_peak_memory", "release_freed_memory", "reset_peak_memory"]


def _proc_status_kib(field: str) -> int | None:
    """A ``VmXXX`` line of /proc/self/status in KiB, or None where there is none (not Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``), so the
    resident set read next does not still hold what an earlier candidate freed."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim with
            pass


def current_memory(device: str | torch.device) -> int:
    """Bytes held now: CUDA bytes allocated on ``device``, or on CPU the process's resident set."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    rss = _proc_status_kib("VmRSS")
    if rss is not None:
        return rss * 1024
    import psutil

    return int(psutil.Process().memory_info().rss)


def reset_peak_memory(device: str | torch.device) -> bool:
    """Start a new peak-memory window; True when the peak can be reset here.

    CUDA: ``torch.cuda.reset_peak_memory_stats``. CPU on Linux: writing ``5`` to
    ``/proc/self/clear_refs`` resets the resident-set high-water mark ``VmHWM``
    (Linux >= 4.0, proc(5)). Elsewhere False: the CPU peak cannot be reset.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return _proc_status_kib("VmHWM") is not None


def read_peak_memory(device: str | torch.device) -> int:
    """Peak memory in bytes since the last ``reset_peak_memory``: CUDA bytes allocated, or on
    CPU the resident-set high-water mark (``VmHWM`` on Linux; elsewhere the process-life peak,
    which cannot be reset)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        mem = psutil.Process().memory_info()
        return int(getattr(mem, "peak_wset", mem.rss))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes, Linux KiB
