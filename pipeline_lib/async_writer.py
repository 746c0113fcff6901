"""Write outputs in a background thread while the device computes the next image.

Prediction jobs spend much of their time encoding PNGs and HDF5 chunks and copying tensors back to
the host. A single writer thread keeps those in submission order (so files appear as they would from
a plain loop) while the main thread queues the next forward pass; PNG/zlib encoding, h5py and
``Tensor.cpu()`` release the GIL. At most ``max_pending`` tasks wait, which bounds the host memory
held by results that are not written yet. A task's exception is raised in the main thread at the
next ``submit`` or at ``close``, so a failed write stops the job.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BackgroundWriter:
    """Run callables one at a time, in order, in one background thread; use as a context manager."""

    def __init__(self, max_pending: int = 4) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="udaflow-writer")
        self._pending: deque[Future] = deque()

    def submit(self, task: Callable[..., Any], *args: Any) -> None:
        """Queue ``task(*args)``; blocks while ``max_pending`` tasks are still waiting."""
        while self._pending and (self._pending[0].done() or len(self._pending) >= self.max_pending):
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(task, *args))

    def close(self) -> None:
        """Wait for every queued task; re-raise the first failure."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
            return
        # Already failing: stop without waiting for queued writes that are now pointless.
        self._executor.shutdown(wait=True, cancel_futures=True)
