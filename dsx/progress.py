"""A minimal progress bar on stderr (no dependency), for chunked evaluations and sweeps."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """``Progress(total, label).update()`` after each piece of work; silent when disabled."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, stream: Any = None) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        width = 30
        fill = int(width * self.done / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        end = "\n" if self.done >= self.total else ""
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] "
                          f"{self.done}/{self.total} chunks {elapsed:.1f} s{end}")
        self.stream.flush()
