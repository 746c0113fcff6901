"""Cases ``predict`` and ``train_step``: DeepLab-v2 R101 through our engine vs a plain fp32 loop.

The reference repositories run DeepLab-v2 in float32, NCHW, one view per forward pass, with a
``.item()`` (host sync) per iteration and blocking copies from pageable memory. Our engine is what
the jobs run: ``pipeline_lib.engine.performance`` (bf16 autocast, channels-last, cuDNN autotuning,
pinned non-blocking copies; on CUDA), flip views fused into one batch
(``evaluation.predict_probabilities``), predictions and the confusion matrix kept on the device,
losses summed on the device (``Trainer``) and the same SGD step. Each variant runs in its own
process, so its peak memory is its own: ``torch.cuda.max_memory_allocated`` on a GPU, the sampled
peak RSS of the measured loop (warm-up included, model and inputs excluded) on the CPU. FLOPs come
from ``torch.utils.flop_counter`` on the meta device; achieved TFLOP/s is FLOPs x images/s, and its
fraction of the GPU's dense bf16 peak is given when the GPU is in ``bench.common.BF16_PEAK_TFLOPS``.

Without a GPU both run on the CPU in float32 (the engine's GPU switches are CUDA-only), so the
ratio shows only the fused views and removed syncs; the numbers that matter need a GPU run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.common import Device, PeakRss, Stopwatch, isolated, print_table


@dataclass(frozen=True)
class Shape:
    arch: str
    height: int
    width: int
    batch: int
    steps: int
    warmup: int


def predict_shape(quick: bool, device: Device) -> Shape:
    """Cityscapes inference at 1024x2048 on a GPU; on a CPU a quarter (quick: an eighth) of each side."""
    if device.kind == "cuda":
        return Shape("deeplabv2_resnet101", 1024, 2048, 1, 10 if quick else 50, 3)
    return Shape("deeplabv2_resnet101", *((128, 256) if quick else (256, 512)), 1, 2 if quick else 4, 1)


def train_shape(quick: bool, device: Device) -> Shape:
    """512x1024 crops at batch 2 on a GPU (DA-SAC/AdaptSegNet scale); on a CPU smaller crops at batch 1."""
    if device.kind == "cuda":
        return Shape("deeplabv2_resnet101", 512, 1024, 2, 10 if quick else 40, 3)
    return Shape("deeplabv2_resnet101", *((128, 256) if quick else (256, 512)), 1, 2 if quick else 3, 1)


def flops(arch: str, height: int, width: int, batch: int, train: bool) -> float:
    """FLOPs of one forward (and backward when ``train``) pass, counted on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from pipeline_lib.models import build_model

    with torch.device("meta"):
        model = build_model(arch)
        images = torch.empty(batch, 3, height, width)
        with FlopCounterMode(display=False) as counter:
            out = model(images)["out"]
            if train:
                out.float().mean().backward()
    return float(counter.get_total_flops())


def _setup(engine: bool, threads: int | None):
    import torch

    from pipeline_lib.engine.device import select_device
    from pipeline_lib.engine.performance import ComputeSettings, configure_backends

    if threads:
        torch.set_num_threads(threads)
    device = select_device("auto")
    settings = ComputeSettings(num_workers=0).on(device)
    if engine:
        configure_backends(deterministic=False)
    else:  # the references' defaults: no autotuning, fp32 everywhere
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return torch, device, settings


def _peak(torch, device, host: PeakRss) -> float:
    """Peak device memory on CUDA; on the CPU the sampled peak RSS of the measured loop."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return host.peak_mb


def predict_variant(engine: bool, shape_fields: dict, threads: int | None) -> dict:
    """Images/s of flip-averaged full-image prediction + argmax + confusion update."""
    torch, device, settings = _setup(engine, threads)
    import torch.nn.functional as F

    from pipeline_lib.engine.performance import autocast, memory_format, prepare_model, to_device
    from pipeline_lib.evaluation import EvaluationConfig, predict_probabilities
    from pipeline_lib.metrics import ConfusionMatrix
    from pipeline_lib.models import build_model

    shape = Shape(**shape_fields)
    size = (shape.height, shape.width)
    torch.manual_seed(0)
    model = build_model(shape.arch).eval()
    count = shape.warmup + shape.steps
    images = torch.randint(0, 256, (count, 3, *size), dtype=torch.uint8)
    labels = torch.randint(0, 19, (count, *size), dtype=torch.uint8)
    if engine:
        images, labels = images.pin_memory() if settings.pin_memory else images, labels
        prepare_model(model, device, settings.channels_last)
        confusion = ConfusionMatrix(19, device=device)
        cfg = EvaluationConfig(flip=True)
    else:
        model.to(device)
        confusion = ConfusionMatrix(19)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    timer = Stopwatch(cuda=device.type == "cuda")
    with torch.no_grad(), PeakRss() as host:
        for index in range(count):
            if index == shape.warmup:
                timer.__enter__()
            if engine:
                image = (to_device(images[index : index + 1], device).float() - mean.to(device)) / std.to(device)
                image = image.contiguous(memory_format=memory_format(settings.channels_last))
                with autocast(device, settings.amp):
                    probs = predict_probabilities(model, image, size, size[::-1], cfg)
                confusion.update(probs.argmax(dim=1)[0].to(torch.uint8), to_device(labels[index], device))
            else:  # one view per forward pass, result copied back per image, counted on the host
                image = ((images[index : index + 1].float() - mean) / std).to(device)
                total = 0
                for flip in (False, True):
                    logits = model(image.flip(-1) if flip else image)["out"]
                    probs = F.interpolate(logits, size=size, mode="bilinear", align_corners=True).softmax(dim=1)
                    total = total + (probs.flip(-1) if flip else probs)
                prediction = total.argmax(dim=1)[0].cpu().numpy()
                confusion.update(torch.from_numpy(prediction), labels[index])
        confusion.matrix  # noqa: B018  (reads the device counts back: the last sync)
        timer.__exit__()
    return {"images_per_second": shape.steps / timer.seconds, "peak_memory_mb": _peak(torch, device, host)}


def train_variant(engine: bool, shape_fields: dict, threads: int | None) -> dict:
    """Images/s of SGD steps (forward, CE at label resolution, backward, step) on random crops."""
    torch, device, settings = _setup(engine, threads)
    from pipeline_lib.engine.performance import autocast, prepare_model, to_device
    from pipeline_lib.losses import segmentation_cross_entropy
    from pipeline_lib.models import build_model

    shape = Shape(**shape_fields)
    torch.manual_seed(0)
    model = build_model(shape.arch).train()
    images = torch.randn(shape.batch, 3, shape.height, shape.width)
    labels = torch.randint(0, 19, (shape.batch, shape.height, shape.width))
    network = model
    if engine:
        images, labels = (images.pin_memory(), labels.pin_memory()) if settings.pin_memory else (images, labels)
        network = prepare_model(model, device, settings.channels_last)
    else:
        model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    timer = Stopwatch(cuda=device.type == "cuda")
    logged = torch.zeros((), dtype=torch.float64, device=device)
    host = PeakRss().__enter__()
    for step in range(shape.warmup + shape.steps):
        if step == shape.warmup:
            timer.__enter__()
        optimizer.zero_grad(set_to_none=True)
        if engine:
            with autocast(device, settings.amp):
                logits = network(to_device(images, device, settings.channels_last))["out"]
            loss = segmentation_cross_entropy(logits, to_device(labels, device))
            loss.backward()
            logged += loss.detach().double()  # the Trainer's on-device log sum
        else:
            logits = model(images.to(device))["out"]
            loss = segmentation_cross_entropy(logits, labels.to(device))
            loss.backward()
            logged += loss.item()  # the references' per-iteration host sync
        optimizer.step()
    float(logged)
    timer.__exit__()
    host.__exit__()
    return {
        "images_per_second": shape.steps * shape.batch / timer.seconds,
        "peak_memory_mb": _peak(torch, device, host),
    }


def compare(case: str, quick: bool, device: Device, threads: int | None = None) -> tuple[dict, list[dict]]:
    train = case == "train_step"
    shape = (train_shape if train else predict_shape)(quick, device)
    variant = train_variant if train else predict_variant
    per_image = flops(shape.arch, shape.height, shape.width, 1, train) * (1 if train else 2)  # predict: 2 views
    rows = []
    for engine in (False, True):
        measured = isolated(variant, engine, asdict(shape), threads)
        tflops = per_image * measured["images_per_second"] / 1e12
        rows.append({
            "variant": "udaflow engine" if engine else "plain fp32 loop (reference style)",
            "images_per_second": round(measured["images_per_second"], 4),
            "peak_memory_mb": round(measured["peak_memory_mb"], 1),
            "achieved_tflops": round(tflops, 4),
            "fraction_of_bf16_peak": round(tflops / device.bf16_peak_tflops, 4) if device.bf16_peak_tflops else None,
        })
    speedup = rows[1]["images_per_second"] / rows[0]["images_per_second"]
    rows[1]["speedup"] = round(speedup, 2)
    what = (
        f"DeepLab-v2 R101 SGD step (forward, CE, backward, momentum SGD) at {shape.height}x{shape.width}, "
        f"batch {shape.batch}" if train else
        f"DeepLab-v2 R101 prediction of {shape.height}x{shape.width} images with flip (2 views), argmax and "
        "confusion matrix"
    )
    plan = memory_plan(device, threads) if train and not quick else []
    if plan:
        print_table("paper effective batches on one 24 GB GPU (engine step, bf16)", plan, list(plan[0]))
    payload = {
        "what": what,
        "target": "engine >= 2x the fp32 loop's images/s on a GPU" if train else "engine faster than the fp32 loop",
        "device": asdict(device),
        "shape": asdict(shape),
        "torch_threads": threads or "default (one per core)",
        "gflops_per_image": round(per_image / 1e9, 1),
        "note": device.note or None,
        "results": rows,
        "memory_plan_24gb": plan or ("measured on a GPU only (no GPU here)" if train else None),
    }
    return payload, rows


#: Images per optimiser step at the papers' crops (DeepLab-v2 R101; spec digests): name -> (h, w, images).
#: Two-domain methods list the heaviest pass; each pass's graph is freed by its backward.
PAPER_BATCHES: tuple[tuple[str, int, int, int], ...] = (
    ("source only (DA-SAC baseline: 12 x 640x640)", 640, 640, 12),
    ("AdaptSegNet (1 source 720x1280 + 1 target)", 720, 1280, 1),
    ("CBST / MLSL fine-tune (2 x 504x504; 16 for source)", 504, 504, 16),
    ("DA-SAC (8 source + 2x4 target views, 512x1024)", 512, 1024, 8),
    ("CPSL (4 source + 4 target, 512x896)", 512, 896, 4),
)
#: What a 24 GB card leaves for one training process after the CUDA context and the allocator's slack.
MEMORY_BUDGET_GB = 22.0


def memory_plan(device: Device, threads: int | None) -> list[dict]:
    """Per method, the largest micro-batch (a divisor of the paper's images per step) whose engine step
    (bf16, channels-last, SGD) peaks under ``MEMORY_BUDGET_GB`` on this GPU, and the accumulation it needs."""
    if device.kind != "cuda":
        return []
    plan = []
    for name, height, width, images in PAPER_BATCHES:
        for micro in [m for m in range(images, 0, -1) if images % m == 0]:
            shape = Shape("deeplabv2_resnet101", height, width, micro, 2, 1)
            try:
                peak = isolated(train_variant, True, asdict(shape), threads)["peak_memory_mb"] / 1024
            except RuntimeError as err:  # out of memory in the child: try a smaller micro-batch
                if "out of memory" not in str(err):
                    raise
                continue
            if peak <= MEMORY_BUDGET_GB:
                plan.append({"method": name, "micro_batch": micro, "accumulation_steps": images // micro,
                             "peak_memory_gb": round(peak, 2), "fits_24gb": True})
                break
        else:
            plan.append({"method": name, "micro_batch": None, "accumulation_steps": None,
                         "peak_memory_gb": None, "fits_24gb": False})
    return plan


COLUMNS = ["variant", "images_per_second", "speedup", "peak_memory_mb", "achieved_tflops", "fraction_of_bf16_peak"]
