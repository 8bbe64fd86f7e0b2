"""Progress lines for long work (conversion, generation, benchmarks): counts and rates."""

from __future__ import annotations

import sys
import time


class Progress:
    """A progress counter that prints ``desc: done/total (rate/s) key=value ...``.

    On a terminal it redraws one line; elsewhere (CI, logs) it prints a line at most
    every ``interval`` seconds, and always at the end.
    """

    def __init__(self, total: int, desc: str, unit: str = "clips", interval: float = 5.0,
                 enabled: bool = True, stream=None):
        self.total, self.desc, self.unit = total, desc, unit
        self.interval, self.enabled = interval, enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.counters: dict[str, int] = {}
        self.start = self._last = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, n: int = 1, **counters: int) -> None:
        self.done += n
        for key, value in counters.items():
            self.counters[key] = self.counters.get(key, 0) + value
        now = time.monotonic()
        if self.enabled and (self._tty or now - self._last >= self.interval):
            self._last = now
            self._print(end="\r" if self._tty else "\n")

    def close(self) -> None:
        if self.enabled:
            self._print(end="\n")

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.start, 1e-9)

    def _print(self, end: str) -> None:
        extra = " ".join(f"{k}={v}" for k, v in self.counters.items())
        self.stream.write(
            f"{self.desc}: {self.done}/{self.total} {self.unit} "
            f"({self.rate:.1f}/s) {extra}".rstrip() + end
        )
        self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
