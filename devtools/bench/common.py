"""Helpers shared by the benchmarks: CPU count, peak-RSS sampling, time formatting."""

from __future__ import annotations

import os
import threading


def cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class PeakRss:
    """Samples this process's resident memory every millisecond from a background thread."""

    def __init__(self):
        self.start_rss = self.peak = rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.wait(0.001):
            self.peak = max(self.peak, rss())

    def stop(self) -> int:
        """Peak growth in bytes since the sampler started."""
        self._done.set()
        self._thread.join()
        return max(self.peak, rss()) - self.start_rss


def rss() -> int:
    """This process's resident memory in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss


def format_seconds(value: float) -> str:
    """`1.23 s` from one second up, else `123.4 ms`."""
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"
