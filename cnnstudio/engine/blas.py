"""How many threads BLAS (NumPy's matrix products) may use.

In this engine "threads" means BLAS threads and nothing else. The app trains with one
(``TrainConfig.threads``): on a 2-core machine shared with other programs, a second
BLAS thread gains little and loses much when the other core is busy. More cores are
used through processes instead (``engine.parallel.DataParallel``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["blas_threads"]

_LIBS: list[Any] | None = None


class _BlasThreads:
    """Limit BLAS to ``n`` threads inside a ``with`` block, restoring the previous counts.

    Talks to the loaded BLAS libraries' thread setters directly (found once with
    threadpoolctl): ``threadpoolctl.threadpool_limits`` looks the libraries up again on
    every call, too slow for a block around every training step (benchmarks/README.md,
    "Figures quoted in the code").
    """

    def __init__(self, n: int) -> None:
        global _LIBS
        if _LIBS is None:
            from threadpoolctl import ThreadpoolController

            _LIBS = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        self.n = n
        self.saved: list[tuple[Any, int]] = []

    def __enter__(self) -> _BlasThreads:
        assert _LIBS is not None
        self.saved = [(lib, lib.num_threads) for lib in _LIBS]
        for lib, current in self.saved:
            if current != self.n:
                lib.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        for lib, previous in self.saved:
            if previous != self.n:
                lib.set_num_threads(previous)


def blas_threads(n: int) -> _BlasThreads:
    """Context manager: BLAS runs on ``n`` threads inside the ``with`` block."""
    return _BlasThreads(n)
