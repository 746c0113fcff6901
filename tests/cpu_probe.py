"""Prints fingerprints of the CPU computations that decide the demo's numbers, for comparing CPUs.

A few SGD steps of the demo network (convolutions, batch norm, bilinear upsampling, cross-entropy
and their gradients) and a tiny demo data set (the generator's numpy noise and OpenCV resize and
blur). tests/test_cpu_code_path.py runs it on this CPU and on an emulated one.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from pipeline_lib.data.demo import DemoSpec, generate_demo
from pipeline_lib.engine import cpu_code_path
from pipeline_lib.models.serialization import ModelSpec


def training_fingerprint(steps: int = 3) -> str:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = ModelSpec(arch="deeplabv2_resnet_tiny", num_classes=19, aspp_branches_used=4).build()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        images = torch.randn(2, 3, 64, 96, generator=generator)
        labels = torch.randint(0, 19, (2, 64, 96), generator=generator)
        logits = F.interpolate(model(images)["out"], size=(64, 96), mode="bilinear", align_corners=False)
        optimiser.zero_grad()
        F.cross_entropy(logits, labels).backward()
        optimiser.step()
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def demo_data_fingerprint() -> str:
    # Two frames per dataset at the demo's sizes: enough for AVX-512 and AVX2 to give other pixels.
    spec = DemoSpec(gta5_count=2, synthia_count=2, cityscapes_train_count=2, cityscapes_val_count=0)
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory() as root:
        generate_demo(Path(root), spec)
        for path in sorted(Path(root).rglob("*.png")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    cpu_code_path.configure_torch()
    print(f"training {training_fingerprint()}")
    print(f"demo_data {demo_data_fingerprint()}")
    print(f"capability {torch.backends.cpu.get_cpu_capability()}", file=sys.stderr)
