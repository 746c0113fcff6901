"""Job: every method's prediction on the same validation images, one figure (from the visuals/ PNGs)."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_lib.data.image_io import read_rgb
from pipeline_lib.report.figure_files import save_figure
from pipeline_lib.report.panels import image_grid, shrink, split_visual

log = logging.getLogger(__name__)



def panel_names(visuals_dir: str | Path) -> list[str]:
    return sorted(path.stem for path in Path(visuals_dir).glob("*.png") if not path.name.startswith("."))


def run(visual_dirs: list[str], runs: list[str], out: str | Path) -> None:
    if len(visual_dirs) != len(runs) or not runs:
        raise ValueError(f"{len(visual_dirs)} visuals folders for {len(runs)} runs")
    names = panel_names(visual_dirs[0])
    for folder in visual_dirs[1:]:
        names = [name for name in names if name in set(panel_names(folder))]
    if not names:
        raise ValueError(
            f"no validation image has a panel in every one of {visual_dirs}; "
            "config key evaluation.num_visualizations must be at least 1 for the report"
        )
    cells = []
    for index, folder in enumerate(visual_dirs):
        parts = [split_visual(read_rgb(Path(folder) / f"{name}.png")) for name in names]
        if index == 0:
            cells.append([shrink(image, is_label=False) for image, _, _ in parts])
            cells.append([shrink(truth, is_label=True) for _, truth, _ in parts])
        cells.append([shrink(prediction, is_label=True) for _, _, prediction in parts])
    title = "Cityscapes validation: predictions per method"
    figure = image_grid(cells, ["image", "ground truth", *runs], names, title, header_rows=2)
    save_figure(figure, out)
    log.info("validation panels: %d images × %d runs", len(names), len(runs))
