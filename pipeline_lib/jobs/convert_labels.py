"""Job: convert one dataset split's labels to train IDs and write its file list and report.

Each root's conversion is kept in ``converted_store`` and restored from there when the same root is
configured again, so a run against a broken root never loses a good root's converted labels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from pipeline_lib.data import converted_store
from pipeline_lib.data.convert import convert_labels, list_samples, write_report
from pipeline_lib.progress import Progress

log = logging.getLogger(__name__)


def run(
    dataset: str,
    split: str,
    root: str | Path,
    labels_dir: str | Path,
    file_list: str | Path,
    report_path: str | Path,
    *,
    size_mismatch: str = "error",
    require_labels: bool = True,
    demo: bool = False,
    threads: int = 1,
    options: Mapping[str, object] | None = None,
) -> None:
    """Convert ``root``'s ``split``; ``demo`` = the generated demo set, which is small by design. ``options``
    are the dataset's own listing settings (``convert.list_samples``); they change which frames are listed,
    which the stored conversion's fingerprint covers already."""
    samples = list_samples(dataset, Path(root), split, options)  # type: ignore[arg-type]
    settings = {"size_mismatch": size_mismatch, "require_labels": require_labels, "labels_dir": str(labels_dir)}
    stored = converted_store.entry(dataset, split, converted_store.fingerprint(dataset, split, root, samples, settings))
    if converted_store.restore(stored, Path(labels_dir), Path(file_list), Path(report_path)):
        log.info(
            "%s/%s from %s: restored the conversion stored at %s (nothing changed there)", dataset, split, root, stored
        )
        return
    log.info("converting %d %s/%s frames from %s", len(samples), dataset, split, root)
    meter = Progress(f"converted {dataset}/{split}", len(samples), unit="frames")

    def progress(done: int, total: int) -> None:
        meter.advance(done - meter.done)

    report = convert_labels(
        dataset,  # type: ignore[arg-type]
        samples,
        Path(labels_dir),
        Path(file_list),
        split=split,
        size_mismatch=size_mismatch,  # type: ignore[arg-type]
        require_labels=require_labels,
        threads=threads,
        progress=progress,
    )
    write_report(report_path, report)
    converted_store.save(stored, Path(labels_dir), Path(file_list), Path(report_path))
    if not demo and report.expected_total and report.converted + len(report.skipped) != report.expected_total:
        log.warning(
            "%s holds %d frames, the full dataset has %d (a partial download?)",
            root,
            report.converted + len(report.skipped),
            report.expected_total,
        )
    log.info("%d converted, %d skipped (listed in %s)", report.converted, len(report.skipped), report_path)
