"""Rendering the flat drawing into a photo-like image.

Textures, lighting, noise and blur are the appearance half of the domain shift; they change pixels only, never
the labels drawn with them.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline_lib.data.demo.camera import Camera
from pipeline_lib.data.demo.canvas import Canvas
from pipeline_lib.data.demo.codes import GROUND_CODES, Code
from pipeline_lib.data.demo.domains import Look


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Zero-mean, unit-scale noise varying over about ``cell`` pixels (upsampled white noise)."""
    h, w = shape
    coarse = rng.standard_normal((h // cell + 2, w // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def render(canvas: Canvas, cam: Camera, look: Look, rng: np.random.Generator) -> np.ndarray:
    """Textures, shadows, haze, lighting, sensor noise and blur on top of the flat colours; uint8 RGB."""
    image = np.asarray(canvas.rgb, dtype=np.float32)
    code = np.asarray(canvas.label)
    h, w = code.shape
    rows = np.arange(h, dtype=np.float32)[:, None]
    cols = np.arange(w, dtype=np.float32)[None, :]

    shade = np.ones((h, w), dtype=np.float32)  # multiplicative light and texture per pixel
    sky = code == Code.SKY
    shade = np.where(sky, 0.8 + 0.3 * np.clip(rows / max(cam.horizon, 1.0), 0, 1), shade)
    ground = np.isin(code, GROUND_CODES)
    shade[ground & (np.asarray(canvas.shadow) > 0)] *= 0.6
    shade[ground] *= 1 + rng.normal(0, 0.04, (h, w)).astype(np.float32)[ground]
    if look.facade_stripes:
        shade = np.where(code == Code.BUILDING, shade * (1 + look.facade_stripes * np.sin(cols * 2 * np.pi / 5)), shade)
    mesh = ((cols + rows) % look.fence_mesh < 1) | ((cols - rows) % look.fence_mesh < 1)
    shade[(code == Code.FENCE) & mesh] *= 0.55
    vegetation = code == Code.VEGETATION
    shade[vegetation] *= 1 + 0.25 * smooth_noise(rng, (h, w), 3)[vegetation]
    image *= shade[..., None]

    haze = look.haze * np.exp(-np.abs(rows - cam.horizon) / (0.12 * h))
    sky_colour = image[sky].mean(axis=0) if sky.any() else np.full(3, 180, np.float32)
    image = image * (1 - haze[..., None]) + sky_colour * haze[..., None]

    image = image / 255.0
    contrast, brightness, gamma = (rng.uniform(*r) for r in (look.contrast, look.brightness, look.gamma))
    image = ((image - 0.5) * contrast + 0.5) * brightness
    if look.blotches:
        image *= 1 + look.blotches * smooth_noise(rng, (h, w), 12)[..., None]
    image = np.clip(image, 0, 1) ** gamma * 255
    image += rng.normal(0, look.noise, image.shape)
    if look.blur:
        image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), look.blur)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
