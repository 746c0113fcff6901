"""Job logging: a Snakemake job's prints, warnings and progress all land in its ``log:`` file."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from pipeline_lib.engine import cpu_code_path, lifetime

#: Errors that mean bad input or a busy folder, each raised with a message naming the file or key: the
#: terminal shows that one line, the job log the traceback too. Anything else is a bug: full traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, lifetime.StateDirBusy)

#: Suffix of the file beside a job's log that keeps every attempt: Snakemake deletes a job's ``log:``
#: file before it runs the job again, so the killed attempt's last lines would otherwise be lost.
HISTORY_SUFFIX = ".attempts"


class _Tee:
    """A text stream writing to several line-buffered files (the job log and its attempts history)."""

    def __init__(self, *handles: TextIO) -> None:
        self.handles = handles

    def write(self, text: str) -> int:
        for handle in self.handles:
            handle.write(text)
        return len(text)

    def flush(self) -> None:
        for handle in self.handles:
            handle.flush()

    def fileno(self) -> int:
        return self.handles[0].fileno()

    def isatty(self) -> bool:
        return False


def history_path(path: str | Path) -> Path:
    """``logs/x.log`` -> ``logs/x.log.attempts``: every attempt of the job, oldest first."""
    return Path(f"{path}{HISTORY_SUFFIX}")


@contextlib.contextmanager
def job_log(path: str | Path | None) -> Iterator[None]:
    """Send stdout, stderr and ``logging`` to ``path`` and append them to ``history_path(path)``.

    ``path`` holds the current attempt (Snakemake empties it before each run of the job); the history
    file beside it keeps every attempt, each starting with a line naming its start time and PID.

    An exception is written to the log before it propagates, so the log alone explains a failure; an
    ``EXPECTED_ERRORS`` one leaves the job as a one-line ``SystemExit`` (no traceback on the terminal).
    Torch is first put on the CPU code path the Snakefile chose (``cpu_code_path.configure_torch``),
    and the job is tied to its Snakemake's lifetime (``lifetime.stop_with_snakemake``).
    """
    cpu_code_path.configure_torch()
    watched = lifetime.stop_with_snakemake()
    if path is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        current = stack.enter_context(open(path, "a", buffering=1))
        history = stack.enter_context(open(history_path(path), "a", buffering=1))
        history.write(f"===== attempt started {time.strftime('%Y-%m-%dT%H:%M:%S')}, pid {os.getpid()} =====\n")
        handle = _Tee(current, history)
        stack.enter_context(contextlib.redirect_stdout(handle))
        stack.enter_context(contextlib.redirect_stderr(handle))
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        started = time.monotonic()
        try:
            logging.getLogger("udaflow").info("CPU code path: %s", cpu_code_path.describe())
            if watched:
                logging.getLogger("udaflow").info("stops if Snakemake (pid %d) dies", watched)
            yield
            gpu_mb = _peak_gpu_mb()
            logging.getLogger("udaflow").info(
                "job done in %.1f s, peak RSS %.0f MB%s",
                time.monotonic() - started,
                _peak_rss_mb(),
                "" if gpu_mb is None else f", peak GPU memory {gpu_mb:.0f} MB",
            )
        except SystemExit as stop:  # a deliberate exit (the trainer's stop on a signal) has logged its reason
            logging.getLogger("udaflow").info("job exited with status %s", stop.code)
            raise
        except EXPECTED_ERRORS as err:  # bad input: its message is the news, its traceback stays in the log
            logging.getLogger("udaflow").exception("job failed")
            raise SystemExit(f"udaflow: {err} (traceback in {path})") from None
        except BaseException:
            logging.getLogger("udaflow").exception("job failed")
            raise
        finally:
            root.removeHandler(handler)


def _peak_gpu_mb() -> float | None:
    """Largest GPU memory the caching allocator of this process reserved on any device (what has to fit on
    the card), or None when the job never used CUDA. Torch is not imported for the question."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    return max(torch.cuda.max_memory_reserved(index) for index in range(torch.cuda.device_count())) / 2**20


def _peak_rss_mb() -> float:
    """Largest resident set of this process or of any child it waited for (e.g. data-parallel workers)."""
    kilobytes = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return kilobytes / 1024
