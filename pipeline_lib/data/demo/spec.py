"""How much demo data to generate: the generator's one input besides the output folder.

A frozen dataclass whose fields are the ``demo`` keys of config.yaml, so the Snakemake config maps onto it
one-to-one and a bad count or size fails before any file is written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoSpec:
    """How much to generate. Sizes are (width, height), the real resolutions scaled down."""

    seed: int = 0
    gta5_count: int = 48
    synthia_count: int = 48
    cityscapes_train_count: int = 32
    cityscapes_val_count: int = 16
    acdc_train_count: int = 0  # the second target domain (ACDC layout, night); 0 = not written
    acdc_val_count: int = 0
    gta5_size: tuple[int, int] = (240, 132)  # 1914×1052 / 8
    synthia_size: tuple[int, int] = (256, 152)  # 1280×760 / 5
    cityscapes_size: tuple[int, int] = (256, 128)  # 2048×1024 / 8
    acdc_size: tuple[int, int] = (240, 135)  # 1920×1080 / 8

    def __post_init__(self) -> None:
        """Accept sizes given as lists (YAML config) and reject values that cannot make an image set."""
        for name in ("gta5_size", "synthia_size", "cityscapes_size", "acdc_size"):
            width, height = (int(v) for v in getattr(self, name))
            if width < 16 or height < 16:
                raise ValueError(f"DemoSpec.{name} must be at least 16×16 pixels, got {width}×{height}")
            object.__setattr__(self, name, (width, height))
        counts = ("gta5_count", "synthia_count", "cityscapes_train_count", "cityscapes_val_count")
        for name in (*counts, "acdc_train_count", "acdc_val_count"):
            if getattr(self, name) < 0:
                raise ValueError(f"DemoSpec.{name} must not be negative, got {getattr(self, name)}")

    @classmethod
    def from_config(cls, demo: dict) -> DemoSpec:
        """The spec of config.yaml's ``demo`` section: its counts and seed, and the sizes of its
        ``resolution`` (``demo``: the scaled-down sizes above; ``real``: the datasets' own, for running
        the real overlays' networks, crops and scales on a synthetic world)."""
        settings = {k: v for k, v in demo.items() if k not in ("generate", "root", "resolution")}
        resolution = demo.get("resolution", "demo")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"demo.resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
        return cls(**settings, **RESOLUTIONS[resolution])


#: ``demo.resolution`` -> the frame sizes (width, height) of GTA5, SYNTHIA, Cityscapes and ACDC.
RESOLUTIONS: dict[str, dict[str, tuple[int, int]]] = {
    "demo": {},  # the DemoSpec defaults
    "real": {
        "gta5_size": (1914, 1052),
        "synthia_size": (1280, 760),
        "cityscapes_size": (2048, 1024),
        "acdc_size": (1920, 1080),
    },
}
