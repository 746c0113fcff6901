"""Seeded weights for DA-SAC's VGG-16-BN networks, the same in the fixture maker and in the tests.

The networks have 30 M (DeepLab-v2) and 134 M (FCN-8s) parameters, too many to commit, so
``tests/fixtures/dasac/make_fixtures.py`` loads weights drawn by ``seeded_state`` from each key's name
into the reference's own modules and commits only the key list and the reference's outputs; the test
draws the same weights for the snapshot it imports. NumPy's PCG64 stream makes both draws equal.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch


def seeded_state(shapes: dict[str, list[int]], seed: int) -> dict[str, torch.Tensor]:
    """Values per key drawn from ``seed`` and the key's CRC-32, scaled so activations stay O(1):
    convs He-scaled, BN affine near (1, 0), running statistics near (0, 1)."""
    state: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        name = key.rsplit(".", 1)[-1]
        if name == "num_batches_tracked":
            state[key] = torch.tensor(1000)
            continue
        values = rng.standard_normal(shape).astype(np.float32)
        if name == "weight" and len(shape) == 4:
            values *= np.float32(np.sqrt(2.0 / (shape[1] * shape[2] * shape[3])))
        elif name == "weight":
            values = np.float32(1.0) + np.float32(0.1) * values
        elif name == "running_var":
            values = np.float32(1.0) + np.float32(0.5) * np.abs(values)
        else:  # conv and BN biases, running means
            values *= np.float32(0.1)
        state[key] = torch.from_numpy(values)
    return state
