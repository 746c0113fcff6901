"""Writing the report's figures at a size the report viewer shows whole.

Snakemake's report viewer draws a PNG at its own pixel size, centred in the window: a figure taller
than the window has its top (title, first rows) above the scroll origin, out of reach (issue 22,
seen in headless Chromium at 1280x800). Every figure is therefore written at ``DPI`` unless that
would make it taller than ``MAX_HEIGHT_PX`` or wider than ``MAX_WIDTH_PX``; then at the resolution
that fits. ``tools/report_screenshots.py`` checks the rendered report in a browser.
"""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from pipeline_lib.atomic import atomic_path

DPI = 120
#: A laptop browser window's height below its bars (1280x800 headless Chromium: 657 px), and a width
#: that leaves room for the report's side panel.
MAX_HEIGHT_PX = 600
MAX_WIDTH_PX = 1500


def figure_dpi(figure: Figure) -> float:
    width, height = figure.get_size_inches()
    return min(DPI, MAX_HEIGHT_PX / height, MAX_WIDTH_PX / width)


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> None:
    """``figure`` as a PNG at ``path`` (atomically), at most ``MAX_HEIGHT_PX`` tall and ``MAX_WIDTH_PX`` wide."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=figure_dpi(figure), format="png")
