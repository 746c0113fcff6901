"""Efficiency pieces that must not change results: memory format, fused views, on-device loss logs, writers."""

import threading

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from pipeline_lib.async_writer import BackgroundWriter
from pipeline_lib.engine.performance import ComputeSettings, configure_backends, prepare_model, to_device
from pipeline_lib.engine.trainer import Trainer, TrainerConfig
from pipeline_lib.evaluation import EvaluationConfig, predict_probabilities
from pipeline_lib.losses import segmentation_cross_entropy, upsample_logits
from pipeline_lib.models import build_model
from pipeline_lib.selftrain.pseudo_labels import PredictionConfig, predict_stride8, sisc_windows, stride8_size


def tiny_network(seed=0):
    torch.manual_seed(seed)
    return build_model("deeplabv2_resnet_tiny", num_classes=19)


def test_channels_last_gives_the_same_outputs_and_gradients(one_thread):
    images = torch.randn(2, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 19, (2, 48, 64), generator=torch.Generator().manual_seed(2))
    results = []
    for channels_last in (False, True):
        model = tiny_network()
        network = prepare_model(model, torch.device("cpu"), channels_last)
        batch = to_device(images, torch.device("cpu"), channels_last)
        assert batch.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        loss = segmentation_cross_entropy(network(batch)["out"], labels)
        loss.backward()
        head = model.layer5.conv2d_list[0]
        results.append((loss.detach(), model.conv1.weight.grad.clone(), head.weight.grad.clone()))
    for plain, nhwc in zip(*results, strict=True):
        torch.testing.assert_close(nhwc, plain, rtol=1e-4, atol=1e-6)


def test_gpu_switches_are_off_on_cpu():
    settings = ComputeSettings(amp=True, channels_last=True, pin_memory=True, compile=True)
    on_cpu = settings.on(torch.device("cpu"))
    assert (on_cpu.amp, on_cpu.channels_last, on_cpu.pin_memory, on_cpu.compile) == (False, False, False, True)
    assert settings.on(torch.device("cuda")) == settings


def test_determinism_switch_controls_cudnn_autotuning():
    before = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    try:
        configure_backends(deterministic=True)
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
        configure_backends(deterministic=False)
        assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before


def test_missing_compute_key_is_named():
    with pytest.raises(KeyError, match="channels_last"):
        ComputeSettings.from_config({"amp": True, "deterministic": False, "compile": False, "pin_memory": True,
                                     "num_workers": 0})


@torch.no_grad()
def test_fused_multiscale_flip_matches_the_per_view_loop(one_thread):
    model = tiny_network().eval()
    image = torch.randn(1, 3, 40, 72, generator=torch.Generator().manual_seed(3))
    cfg = EvaluationConfig(scales=(0.75, 1.0, 1.25), flip=True)
    fused = predict_probabilities(model, image, (40, 72), (72, 40), cfg)
    total = torch.zeros_like(fused)
    for scale in cfg.scales:
        size = (round(40 * scale), round(72 * scale))
        view = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
        for flip in (False, True):
            logits = model(view.flip(-1) if flip else view)["out"]
            probs = upsample_logits(logits, (40, 72)).softmax(dim=1)
            total += probs.flip(-1) if flip else probs
    torch.testing.assert_close(fused, total / 6, rtol=1e-4, atol=1e-6)


@torch.no_grad()
def test_batched_sisc_windows_match_one_window_at_a_time(one_thread):
    model = tiny_network().eval()
    image = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(4))
    config = PredictionConfig(flip=True, sisc_patches=11, sisc_patch_size=(32, 32))  # more windows than one batch
    fused = predict_stride8(model, image, config, torch.Generator().manual_seed(5))

    def softmax_at(view, grid):
        probs = [model(v)["out"].softmax(dim=1) for v in (view, view.flip(-1))]
        probs = [F.interpolate(p, size=grid, mode="bilinear", align_corners=True) for p in probs]
        return (probs[0] + probs[1].flip(-1)) / 2

    grid = stride8_size((64, 96))
    expected = softmax_at(image, grid)[0]
    count = torch.ones(grid)
    for top, left in sisc_windows((64, 96), (32, 32), 11, torch.Generator().manual_seed(5)):
        crop = image[..., top * 8 : top * 8 + 32, left * 8 : left * 8 + 32]
        expected[:, top : top + 4, left : left + 4] += softmax_at(crop, (4, 4))[0]
        count[top : top + 4, left : left + 4] += 1
    torch.testing.assert_close(fused, expected / count, rtol=1e-4, atol=1e-6)


def _logged_run(state_dir, as_tensor: bool, accumulation_steps=2, log_every=3, iterations=7):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    trainer = Trainer(
        modules={"model": model},
        optimizers={"sgd": torch.optim.SGD(model.parameters(), lr=0.05)},
        base_lrs={"sgd": 0.05},
        config=TrainerConfig(iterations=iterations, accumulation_steps=accumulation_steps, log_every=log_every,
                             checkpoint_every=100),
        state_dir=state_dir,
        device=torch.device("cpu"),
        fingerprint="x",
    )
    calls = iter(range(1000))

    def step(iteration):
        x = torch.randn(5, 3, generator=torch.Generator().manual_seed(next(calls)))
        loss = ((model(x) - x[:, :2]) ** 2).mean()
        trainer.backward(loss)
        logged = {"loss": loss.detach(), "half": loss.detach() / 2}
        return logged if as_tensor else {key: value.item() for key, value in logged.items()}

    trainer.run(step)
    return pd.read_csv(state_dir / "train_log.csv")


def test_device_loss_accumulation_logs_the_same_means_as_item_per_iteration(tmp_path):
    floats = _logged_run(tmp_path / "floats", as_tensor=False)
    tensors = _logged_run(tmp_path / "tensors", as_tensor=True)
    assert floats["iteration"].tolist() == [3, 6, 7]
    pd.testing.assert_frame_equal(tensors, floats, check_exact=True)


def test_non_finite_loss_is_caught_before_a_checkpoint_between_log_lines(tmp_path):
    model = torch.nn.Linear(1, 1)
    trainer = Trainer(
        modules={"model": model},
        optimizers={"sgd": torch.optim.SGD(model.parameters(), lr=0.1)},
        base_lrs={"sgd": 0.1},
        config=TrainerConfig(iterations=10, log_every=10, checkpoint_every=2),
        state_dir=tmp_path,
        device=torch.device("cpu"),
        fingerprint="x",
    )
    with pytest.raises(FloatingPointError, match="between iteration 0 and iteration 1"):
        trainer.run(lambda iteration: {"loss": torch.tensor(float("nan") if iteration == 1 else 1.0)})
    assert not trainer.checkpoint_path.exists()


def test_cross_entropy_without_host_sync_equals_mean_reduction():
    generator = torch.Generator().manual_seed(6)
    logits = torch.randn(2, 19, 6, 10, generator=generator, requires_grad=True)
    labels = torch.randint(0, 19, (2, 24, 40), generator=generator)
    labels[:, ::3] = 255
    ours = segmentation_cross_entropy(logits, labels)
    (ours_grad,) = torch.autograd.grad(ours, logits)
    reference = F.cross_entropy(upsample_logits(logits, (24, 40)), labels, ignore_index=255)
    (reference_grad,) = torch.autograd.grad(reference, logits)
    assert torch.equal(ours, reference) and torch.equal(ours_grad, reference_grad)
    empty = segmentation_cross_entropy(logits, torch.full_like(labels, 255))
    assert empty.item() == 0.0 and empty.requires_grad


def test_background_writer_keeps_order_and_raises_failures():
    written = []
    with BackgroundWriter(max_pending=2) as writer:
        for value in range(20):
            writer.submit(written.append, value)
    assert written == list(range(20))

    def fail():
        raise OSError("disk full")

    main = threading.get_ident()
    threads = []
    with pytest.raises(OSError, match="disk full"), BackgroundWriter() as writer:
        writer.submit(lambda: threads.append(threading.get_ident()))
        writer.submit(fail)
    assert threads and threads[0] != main


def test_initial_model_is_a_function_of_the_seed():
    from pipeline_lib.jobs.train_source import build_spec, initial_model

    config = {"arch": "deeplabv2_resnet_tiny", "num_classes": 19, "aspp_branches_used": 4, "imagenet_weights": None}
    spec = build_spec(config)
    first, again, other = (initial_model(config, spec, seed).state_dict() for seed in (0, 0, 1))
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["conv1.weight"], other["conv1.weight"])
