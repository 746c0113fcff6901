"""Job: the self-training target list from a reference ``.lst`` (``self_training.target_list``)."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_lib.atomic import atomic_path
from pipeline_lib.data.datasets import read_file_list
from pipeline_lib.selftrain.reference_lists import read_reference_list, select_listed

log = logging.getLogger(__name__)


def run(reference_list: str | Path, train_list: str | Path, out: str | Path) -> None:
    """Write the rows of ``train_list`` that ``reference_list`` names to ``out`` (a ``name,image,label`` CSV)."""
    names = read_reference_list(reference_list)
    selected = select_listed(read_file_list(train_list), names, reference_list)
    with atomic_path(out) as tmp:
        selected.to_csv(tmp, index=False)
    log.info("%d target frames from %s (of the %s train split)", len(selected), reference_list, train_list)
