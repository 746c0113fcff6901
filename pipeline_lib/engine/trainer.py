"""The training loop shared by every method: poly LR, accumulation, bf16 autocast, checkpoints, resume, logs.

A method supplies a ``step(iteration)`` that runs its forward passes, calls ``trainer.backward`` on
each loss and returns the numbers to log; the trainer owns everything around it. Return the losses as
detached tensors: they are summed on the device and copied to the host once per ``log_every``
iterations (a ``.item()`` per iteration stalls the GPU queue); plain floats work too. Style follows
TLlib's full-state resume: modules, optimisers, RNG and iteration live in one checkpoint, so a job
killed at any point continues from its last checkpoint instead of iteration 0.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import SegmentationDataset, infinite_loader
from pipeline_lib.engine import distributed
from pipeline_lib.engine.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from pipeline_lib.engine.lifetime import hold_state_lock
from pipeline_lib.engine.performance import ComputeSettings, configure_backends, prepare_model, to_device
from pipeline_lib.engine.performance import autocast as device_autocast
from pipeline_lib.engine.schedule import apply_poly_lr
from pipeline_lib.progress import format_duration, format_rate
from pipeline_lib.run_messages import STOPPED_BY_SIGNAL

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.csv"


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class TrainerConfig:
    iterations: int
    poly_power: float = 0.9
    accumulation_steps: int = 1
    checkpoint_every: int = 100
    log_every: int = 10
    amp: bool = True  # bf16 autocast, used on CUDA only (CPU bf16 is slower than fp32 for these convs)
    seed: int = 0
    # Efficiency switches (pipeline_lib.engine.performance); the defaults are config.yaml's.
    channels_last: bool = True
    deterministic: bool = False
    compile: bool = False
    pin_memory: bool = True


@dataclass(frozen=True)
class EngineSettings:
    """Run-wide settings every method's training shares (config sections ``training`` and ``compute``)."""

    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 20
    amp: bool = True
    num_workers: int = 0
    channels_last: bool = True
    deterministic: bool = False
    compile: bool = False
    pin_memory: bool = True

    @classmethod
    def from_config(cls, training: dict[str, Any], compute: dict[str, Any]) -> EngineSettings:
        efficiency = ComputeSettings.from_config(compute)
        return cls(
            seed=training["seed"],
            checkpoint_every=training["checkpoint_every"],
            log_every=training["log_every"],
            amp=efficiency.amp,
            num_workers=efficiency.num_workers,
            channels_last=efficiency.channels_last,
            deterministic=efficiency.deterministic,
            compile=efficiency.compile,
            pin_memory=efficiency.pin_memory,
        )

    def trainer_config(self, iterations: int, poly_power: float = 0.9, accumulation_steps: int = 1) -> TrainerConfig:
        return TrainerConfig(
            iterations=iterations,
            poly_power=poly_power,
            accumulation_steps=accumulation_steps,
            checkpoint_every=self.checkpoint_every,
            log_every=self.log_every,
            amp=self.amp,
            seed=self.seed,
            channels_last=self.channels_last,
            deterministic=self.deterministic,
            compile=self.compile,
            pin_memory=self.pin_memory,
        )


class Trainer:
    """Runs ``step`` for ``config.iterations`` iterations with periodic atomic checkpoints in ``state_dir``.

    ``base_lrs`` names, per optimiser in ``optimizers``, the LR that the poly schedule decays; every
    group's LR is that value times its ``lr_mult``. ``fingerprint`` identifies the job's settings: a
    checkpoint written under other settings is not resumed (the job starts over, and says so).
    """

    def __init__(
        self,
        *,
        modules: dict[str, Stateful],
        optimizers: dict[str, torch.optim.Optimizer],
        base_lrs: dict[str, float],
        config: TrainerConfig,
        state_dir: str | Path,
        device: torch.device,
        fingerprint: str,
    ) -> None:
        if set(base_lrs) != set(optimizers):
            raise ValueError(f"base_lrs keys {sorted(base_lrs)} must match optimizers {sorted(optimizers)}")
        self.modules = modules
        self.optimizers = optimizers
        self.base_lrs = base_lrs
        self.config = config
        self.state_dir = Path(state_dir)
        self.device = device
        self.fingerprint = fingerprint
        self.start_iteration = 0
        self._stop_requested = False
        self._stop_signal: int = signal.SIGTERM  # the other ranks of a data-parallel run learn only that one stopped
        self.world = distributed.world()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.world.is_main:  # the other ranks of a data-parallel run share rank 0's folder
            hold_state_lock(self.state_dir)
        self.compute = ComputeSettings(
            amp=config.amp, channels_last=config.channels_last, deterministic=config.deterministic,
            compile=config.compile, pin_memory=config.pin_memory,
        ).on(device)
        configure_backends(config.deterministic)
        torch.manual_seed(config.seed)
        self._resume()
        distributed.broadcast_modules(self.modules.values())

    @property
    def checkpoint_path(self) -> Path:
        return self.state_dir / CHECKPOINT_NAME

    @property
    def log_path(self) -> Path:
        return self.state_dir / LOG_NAME

    def _resume(self) -> None:
        if not self.checkpoint_path.exists():
            return
        state = load_checkpoint(self.checkpoint_path)
        if state.get("fingerprint") != self.fingerprint:
            log.warning("ignoring %s: it was written under other settings; training starts over", self.checkpoint_path)
            return
        for name, module in self.modules.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        restore_rng_state(state["rng"])
        self.start_iteration = int(state["iteration"])
        log.info("resuming from %s at iteration %d", self.checkpoint_path, self.start_iteration)

    def save(self, iteration: int) -> None:
        if self.world.is_main:
            self._save(iteration)
        distributed.barrier()  # no rank leaves before the checkpoint is on disk

    def _save(self, iteration: int) -> None:
        save_checkpoint(
            self.checkpoint_path,
            {
                "fingerprint": self.fingerprint,
                "iteration": iteration,
                "modules": {name: module.state_dict() for name, module in self.modules.items()},
                "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
                "rng": rng_state(),
                "config": asdict(self.config),
            },
        )

    def batches(self, dataset: SegmentationDataset, batch_size: int, seed: int, num_workers: int = 0) -> Iterator[dict]:
        """The dataset's batch stream positioned where this run resumes: one batch per micro-step done so far.

        Under data parallelism ``batch_size`` stays the global batch; this rank gets its slice of each.
        """
        return infinite_loader(
            dataset,
            batch_size,
            seed,
            self.start_iteration * self.config.accumulation_steps,
            num_workers=num_workers,
            pin_memory=self.compute.pin_memory,
            rank=self.world.rank,
            world_size=self.world.size,
        )

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Put ``model`` on the device in the configured memory format; returns what ``step`` should call
        (``model`` or its ``torch.compile`` wrapper; keep ``model`` itself in ``modules``)."""
        return prepare_model(model, self.device, self.compute.channels_last, self.compute.compile)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """Non-blocking copy of a batch tensor to the device, images in the network's memory format."""
        return to_device(tensor, self.device, self.compute.channels_last)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA when enabled; a no-op elsewhere."""
        return device_autocast(self.device, self.compute.amp)

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of one micro-batch's loss, scaled so accumulated gradients average over micro-batches."""
        (loss / self.config.accumulation_steps).backward()

    @contextlib.contextmanager
    def _stop_on_signal(self) -> Iterator[None]:
        """On SIGTERM (Slurm pre-emption, ``timeout``) or SIGINT (Ctrl-C) finish the iteration, checkpoint
        and exit with 128 + the signal; a second Ctrl-C stops at once, as an impatient user means it."""

        def request_stop(signum: int, _frame: Any) -> None:
            if self._stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            log.warning("signal %d received: checkpointing after this iteration", signum)
            self._stop_requested, self._stop_signal = True, signum

        previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def run(
        self, step: Callable[[int], dict[str, float]], after_step: Callable[[int], None] | None = None
    ) -> None:
        """``step`` runs once per micro-batch; ``after_step`` once per iteration right after the optimiser
        steps and before any checkpoint (EMA teachers, CPSL §6.4 step 14)."""
        total = self.config.iterations
        progress = (
            _Progress(total, self.start_iteration, self.log_path, self.config.log_every)
            if self.world.is_main
            else _NoProgress()
        )
        with self._stop_on_signal():
            for iteration in range(self.start_iteration, total):
                lrs = {
                    name: apply_poly_lr(opt, self.base_lrs[name], iteration, total, self.config.poly_power)
                    for name, opt in self.optimizers.items()
                }
                for optimizer in self.optimizers.values():
                    optimizer.zero_grad(set_to_none=True)
                logged: dict[str, float | torch.Tensor] = {}
                for _ in range(self.config.accumulation_steps):
                    for key, value in step(iteration).items():
                        # float64 on the device: the same sums as Python floats of .item() values.
                        value = value.detach().double() if isinstance(value, torch.Tensor) else value
                        logged[key] = logged.get(key, 0.0) + value / self.config.accumulation_steps
                logged = self._synchronise_ranks(logged)
                for optimizer in self.optimizers.values():
                    optimizer.step()
                if after_step is not None:
                    after_step(iteration)
                done = iteration + 1
                progress.update(done, logged, lrs)
                if done % self.config.checkpoint_every == 0 or done == total or self._stop_requested:
                    progress.check_finite(done)  # never checkpoint weights that a NaN loss has reached
                    self.save(done)
                if self._stop_requested:
                    log.warning(
                        "%s %d after iteration %d, checkpoint saved: run the same command to resume",
                        STOPPED_BY_SIGNAL, self._stop_signal, done,
                    )
                    sys.exit(128 + self._stop_signal)
        progress.close()

    def _synchronise_ranks(self, logged: dict[str, float]) -> dict[str, float]:
        """Data parallelism (distributed.py): average gradients and logged losses, agree on stopping."""
        if self.world.size == 1:
            return logged
        distributed.average_gradients(self.optimizers.values())
        logged, self._stop_requested = distributed.reduce_step(logged, self._stop_requested)
        return logged


class _NoProgress:
    """Ranks other than 0 of a data-parallel run: rank 0 alone prints and writes the CSV log."""

    def update(self, done: int, logged: dict[str, float], lrs: dict[str, float]) -> None:
        pass

    def check_finite(self, done: int) -> None:
        """Rank 0 checks the rank-averaged losses, which a NaN on any rank makes NaN too."""

    def close(self) -> None:
        pass


class _Progress:
    """Progress lines that read well both in a terminal and in a Snakemake log file, plus a CSV of losses."""

    def __init__(self, total: int, start: int, csv_path: Path, every: int) -> None:
        self.total = total
        self.start = start
        self.every = max(1, every)
        self.csv_path = csv_path
        self.started = time.monotonic()
        self.sums: dict[str, float] = {}
        self.count = 0
        self._truncate_after(start)
        self._file = csv_path.open("a", newline="")
        self._writer: csv.DictWriter | None = None

    def _truncate_after(self, iteration: int) -> None:
        """Drop rows logged after the checkpoint we resume from: they will be logged again.

        A kill during an append leaves a last line without its newline (or with fields missing); such a
        torn row is dropped too, and the file is replaced atomically, so a second kill loses nothing.
        """
        if not self.csv_path.exists():
            return
        text = self.csv_path.read_text()
        complete = text[: text.rfind("\n") + 1]
        rows = [
            row
            for row in csv.DictReader(io.StringIO(complete))
            if None not in row and None not in row.values() and int(row["iteration"]) <= iteration
        ]
        if iteration == 0 or not rows:
            self.csv_path.unlink()
            return
        with atomic_path(self.csv_path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def update(self, done: int, logged: dict[str, float | torch.Tensor], lrs: dict[str, float]) -> None:
        """Add one iteration's losses (device tensors stay on the device); log every ``every`` iterations."""
        for key, value in logged.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1
        if done % self.every and done != self.total:
            return
        means = {key: value / self.count for key, value in self._host_sums().items()}
        self._raise_if_non_finite(done, means)
        row = {"iteration": done, **{f"lr_{k}": v for k, v in lrs.items()}, **means}
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(row))
            if self._file.tell() == 0:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()
        elapsed = time.monotonic() - self.started
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        losses = " ".join(f"{k} {v:.4f}" for k, v in means.items())
        print(
            f"[{done:>{len(str(self.total))}}/{self.total}] {100 * done / self.total:5.1f}% | {losses} | "
            f"lr {next(iter(lrs.values())):.2e} | {format_rate(rate)} it/s | eta {format_duration(eta)}",
            file=sys.stderr,
            flush=True,
        )
        self.sums.clear()
        self.count = 0

    def _host_sums(self) -> dict[str, float]:
        """The running sums as floats, with one device-to-host copy for all tensor-valued losses."""
        tensors = {key: value for key, value in self.sums.items() if isinstance(value, torch.Tensor)}
        if not tensors:
            return dict(self.sums)
        copied = dict(zip(tensors, torch.stack(list(tensors.values())).tolist(), strict=True))
        return {key: copied.get(key, value) for key, value in self.sums.items()}

    def _raise_if_non_finite(self, done: int, values: dict[str, float]) -> None:
        if any(not math.isfinite(v) for v in values.values()):
            # 0-based iteration indices; losses are only copied to the host once per log interval.
            first, last = done - self.count, done - 1
            raise FloatingPointError(f"non-finite loss between iteration {first} and iteration {last}: {values}")

    def check_finite(self, done: int) -> None:
        """Raise if a loss since the last log line was NaN or infinite (one host sync)."""
        self._raise_if_non_finite(done, self._host_sums())

    def close(self) -> None:
        self._file.close()

