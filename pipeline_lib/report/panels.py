"""Qualitative panels: grids of images and label maps in the Cityscapes palette, with a class legend.

Two grids are drawn: every method's prediction on the same validation images (from the evaluate
job's ``visuals/`` PNGs), and per self-training method image | ground truth | prediction |
pseudo-label of a few target training images in each round.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from pipeline_lib.data.labels import PALETTE, TRAIN_CLASSES

#: Width (pixels) every cell is reduced to before drawing: a 2048-pixel Cityscapes frame would only
#: make the report heavy, not clearer. Label maps are reduced with nearest neighbour (exact colours).
CELL_WIDTH = 512
_CELL_INCHES = 2.6
_LEGEND_ENTRY_INCHES = 1.3


def split_visual(panel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image, ground truth and prediction of an evaluate ``visuals/`` PNG.

    Inverse of ``pipeline_lib.evaluation.visualization_panel``, which concatenates the three at the
    label's size along the width.
    """
    if panel.ndim != 3 or panel.shape[1] % 3:
        raise ValueError(f"a visuals panel is three equal H×W×3 parts side by side, got shape {panel.shape}")
    image, truth, prediction = np.split(panel, 3, axis=1)
    return image, truth, prediction


def shrink(picture: np.ndarray, is_label: bool) -> np.ndarray:
    """``picture`` (H×W×3 uint8) at most ``CELL_WIDTH`` wide, aspect kept."""
    height, width = picture.shape[:2]
    if width <= CELL_WIDTH:
        return picture
    size = (CELL_WIDTH, max(1, round(height * CELL_WIDTH / width)))
    resample = Image.NEAREST if is_label else Image.BILINEAR
    return np.asarray(Image.fromarray(picture).resize(size, resample))


def palette_legend(figure: Figure) -> None:
    """The 19 class colours and ignore, as many per line as fit the figure's width."""
    handles = [Patch(color=PALETTE[i] / 255.0, label=name) for i, name in enumerate(TRAIN_CLASSES)]
    handles.append(Patch(color="black", label="ignore"))
    columns = int(min(10, max(3, figure.get_figwidth() // _LEGEND_ENTRY_INCHES)))
    figure.legend(handles=handles, loc="outside lower center", ncol=columns, fontsize=7, frameon=False)


def block_count(rows: int, cols: int, aspect: float, header: int = 0) -> int:
    """How many side-by-side blocks make a grid no taller than wide: a report viewer centres a tall
    figure, so its top (title, inputs) would sit above the scroll origin, out of reach."""
    blocks = 1
    while True:
        height = (header + -(-(rows - header) // blocks)) * aspect
        if height <= cols * blocks or blocks >= rows - header:
            return blocks
        blocks += 1


def image_grid(
    cells: Sequence[Sequence[np.ndarray | None]],
    row_labels: Sequence[str],
    column_titles: Sequence[str],
    title: str,
    header_rows: int = 0,
) -> Figure:
    """A grid of pictures (H×W×3 uint8, already in the palette; None = an empty cell) with a legend.

    A grid taller than wide is folded into side-by-side blocks (``block_count``); each block repeats
    the first ``header_rows`` rows (e.g. the input images and their ground truth) above its share of
    the others, and labels its rows.
    """
    rows, cols = len(cells), len(column_titles)
    if len(row_labels) != rows or any(len(row) != cols for row in cells):
        raise ValueError(f"grid of {rows} rows × {cols} columns does not match its labels")
    aspect = next((cell.shape[0] / cell.shape[1] for row in cells for cell in row if cell is not None), 0.5)
    blocks = block_count(rows, cols, aspect, header_rows)
    per_block = -(-(rows - header_rows) // blocks)
    starts = [header_rows + b * per_block for b in range(blocks)]
    block_rows = [list(range(header_rows)) + list(range(start, min(rows, start + per_block))) for start in starts]
    height = header_rows + per_block
    figure = Figure(
        figsize=(_CELL_INCHES * cols * blocks + 1.2 * blocks, _CELL_INCHES * aspect * height + 1.4),
        layout="constrained",
    )
    axes = figure.subplots(height, cols * blocks, squeeze=False)
    for b, members in enumerate(block_rows):
        for r in range(height):
            for c in range(cols):
                axis = axes[r, b * cols + c]
                axis.set_xticks([])
                axis.set_yticks([])
                if r >= len(members):
                    axis.set_visible(False)
                    continue
                cell = cells[members[r]][c]
                if cell is not None:
                    axis.imshow(cell, interpolation="nearest")
                else:
                    axis.set_frame_on(False)
                if r == 0:
                    axis.set_title(column_titles[c], fontsize=8)
                if c == 0:
                    axis.set_ylabel(row_labels[members[r]], fontsize=8)
    figure.suptitle(title, fontsize=10)
    palette_legend(figure)
    return figure
