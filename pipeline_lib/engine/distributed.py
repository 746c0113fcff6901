"""Data-parallel training inside one job: one process per GPU (or CPU process), started by ``torchrun``.

The scheme is PyTorch DDP's (Li et al., "PyTorch Distributed", VLDB 2020, §3): every rank starts from
rank 0's weights, takes its own slice of each global batch, and before every optimiser step the
gradients are averaged over the ranks (NCCL on GPU, gloo on CPU). All ranks then apply the same
update, so N ranks with ``batch_size / N`` images each take the step one process takes with
``batch_size`` images; exactly so when every rank's loss averages over the same number of pixels and
batch norm is frozen (with live BN each rank normalises with its own sub-batch, as in plain DDP).

Averaging is done by the :class:`~pipeline_lib.engine.trainer.Trainer` once per optimiser step, over
exactly the parameters its optimisers update, instead of wrapping each model in
``DistributedDataParallel``: a method's ``step`` keeps calling its own modules (a segmenter, AdaptSegNet's
discriminators, ...), accumulation needs no ``no_sync``, and a parameter no rank used this step keeps
``grad = None`` as in single-process training.

A job entry point opts in with :func:`data_parallel`; it is then called with ``processes=N`` (the
job's GPU count) and, for N > 1, re-runs itself in N ``torchrun`` workers. Only rank 0 writes files.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from pipeline_lib.engine.device import select_device

log = logging.getLogger(__name__)

# Gradients travel in flat buffers of at most this many elements (DDP's default bucket is 25 MB).
BUCKET_ELEMENTS = 1 << 23


@dataclass(frozen=True)
class World:
    """This process's place among the data-parallel ranks of its job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def _device() -> torch.device:
    """Where collective tensors live: NCCL only moves CUDA tensors, gloo CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_modules(modules: Iterable[Any]) -> None:
    """Give every rank rank 0's parameters and buffers (DDP does this when it wraps a model)."""
    if world().size == 1:
        return
    for module in modules:
        if isinstance(module, torch.nn.Module):
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)


def average_gradients(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Replace each gradient by its mean over the ranks, for every parameter the optimisers update.

    A parameter that got no gradient on any rank keeps ``grad = None`` (the optimiser then skips it,
    weight decay included, as it would in one process); one that got a gradient on some ranks only
    counts as zero on the others.
    """
    size = world().size
    if size == 1:
        return
    params = list({id(p): p for opt in optimizers for group in opt.param_groups for p in group["params"]}.values())
    device = _device()
    used = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(used)
    grads = []
    for param, count in zip(params, used.tolist(), strict=True):
        if count > 0:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            grads.append(param.grad)
    for bucket in _buckets(grads):
        flat = torch._utils._flatten_dense_tensors(bucket)
        dist.all_reduce(flat)
        flat /= size
        for grad, synced in zip(bucket, torch._utils._unflatten_dense_tensors(flat, bucket), strict=True):
            grad.copy_(synced)


def _buckets(tensors: list[torch.Tensor]) -> Iterable[list[torch.Tensor]]:
    """Consecutive groups of one dtype and device, each at most ``BUCKET_ELEMENTS`` long (or one tensor)."""
    bucket: list[torch.Tensor] = []
    elements = 0
    for tensor in tensors:
        if bucket and (
            elements + tensor.numel() > BUCKET_ELEMENTS
            or (tensor.dtype, tensor.device) != (bucket[0].dtype, bucket[0].device)
        ):
            yield bucket
            bucket, elements = [], 0
        bucket.append(tensor)
        elements += tensor.numel()
    if bucket:
        yield bucket


def reduce_step(logged: dict[str, Any], stop: bool) -> tuple[dict[str, float], bool]:
    """The step's logged values averaged over the ranks, and whether any rank was asked to stop.

    One small all-reduce per step, so a SIGTERM that reaches the ranks at different iterations still
    makes all of them checkpoint and leave at the same one.
    """
    if world().size == 1:
        return logged, stop
    values = torch.tensor([float(stop), *(float(v) for v in logged.values())], dtype=torch.float64, device=_device())
    dist.all_reduce(values)
    means = (values[1:] / world().size).tolist()
    return dict(zip(logged, means, strict=True)), bool(values[0] > 0)


def barrier() -> None:
    if world().size > 1:
        dist.barrier()


def data_parallel(run: Callable[..., None]) -> Callable[..., None]:
    """Let a training job's ``run`` take ``processes``: N > 1 runs it in N torchrun workers.

    ``run`` must take the job's ``compute`` config as a keyword (its ``device`` picks NCCL or gloo)
    and ``threads``, which the workers share. Inside a worker ``run`` is called directly.
    """

    @functools.wraps(run)
    def wrapper(*args: Any, processes: int = 1, **kwargs: Any) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        if processes == 1 or world().size > 1:
            run(*args, **kwargs)
            return
        if "threads" in kwargs:
            kwargs["threads"] = max(1, kwargs["threads"] // processes)
        launch(f"{run.__module__}:{run.__qualname__}", args, kwargs, processes, kwargs["compute"]["device"])

    return wrapper


def launch(target: str, args: tuple, kwargs: dict[str, Any], processes: int, device: str) -> None:
    """Run ``target`` ("module:function") with ``args``/``kwargs`` in ``processes`` torchrun workers.

    The workers' output goes to this job's stdout/stderr (its log). SIGTERM is passed on to torchrun,
    which passes it to the workers, which checkpoint and stop together; the job then exits with 143
    like a single-process job.
    """
    backend = "nccl" if select_device(device).type == "cuda" else "gloo"
    if backend == "nccl" and torch.cuda.device_count() < processes:
        raise RuntimeError(
            f"{processes} data-parallel processes need {processes} GPUs but this job sees "
            f"{torch.cuda.device_count()} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}); "
            "ask for them with the rule's gpu resource (config compute.gpus_per_job or the profile's set-resources)"
        )
    library_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        # The workers import this checkout's pipeline_lib, whatever the job's working directory.
        "PYTHONPATH": os.pathsep.join(filter(None, [library_root, os.environ.get("PYTHONPATH")])),
        # Set, so torchrun does not warn; each worker then sets its torch threads from ``threads``.
        "OMP_NUM_THREADS": "1",
    }
    with tempfile.TemporaryDirectory(prefix="udaflow-ddp-") as tmp:
        call_file = Path(tmp) / "call.json"
        call_file.write_text(json.dumps({"args": list(args), "kwargs": kwargs}, default=os.fspath))
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", __name__, target, backend, str(call_file),
        ]
        log.info("data-parallel: %d %s processes via torchrun", processes, backend)
        sys.stdout.flush()
        sys.stderr.flush()
        process = subprocess.Popen(command, env=env, stdout=_fd(sys.stdout), stderr=_fd(sys.stderr))
        terminated = False

        def forward(signum: int, _frame: Any) -> None:
            nonlocal terminated
            terminated = True
            process.send_signal(signum)

        previous = signal.signal(signal.SIGTERM, forward)
        try:
            returncode = process.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
    if terminated:
        log.warning("data-parallel workers stopped on SIGTERM (torchrun exit %d)", returncode)
        sys.exit(128 + signal.SIGTERM)
    if returncode != 0:
        raise RuntimeError(f"{target}: the {processes} data-parallel workers failed (torchrun exit {returncode})")


def _fd(stream: Any) -> int | None:
    """The file descriptor behind a (possibly redirected) ``sys.stdout``/``sys.stderr``; None = inherit."""
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def worker_main(argv: list[str]) -> None:
    """One torchrun worker: join the process group, then call the undecorated job function."""
    target, backend, call_file = argv
    local_rank = int(os.environ["LOCAL_RANK"])
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend)
    rank = dist.get_rank()
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s %(levelname)s rank{rank} %(name)s: %(message)s",
    )
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    call = json.loads(Path(call_file).read_text())
    try:
        getattr(function, "__wrapped__", function)(*call["args"], **call["kwargs"])
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    worker_main(sys.argv[1:])
