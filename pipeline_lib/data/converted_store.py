"""Every dataset root's converted labels are kept, so a bad root never costs the good one's work.

Snakemake deletes a rule's outputs before it runs the rule again, and ``data/converted/<dataset>/``
does not depend on the root: pointing ``datasets.<name>.root`` at a broken copy would delete the
labels converted from the good one, then fail. So each successful conversion is also stored, by
hard links (no second copy while the outputs exist), under
``data/converted/.store/<dataset>_<split>/<fingerprint>/``, and a conversion whose fingerprint is
stored is restored from there instead of being computed again.

The fingerprint covers what the outputs depend on: dataset, split, the root's resolved path, every
frame's image and label path with size and modification time, the conversion settings and the label
tables. A changed or added file under the root therefore converts again (as ``-R convert_labels``
after fixing a dataset expects); an unchanged root, however often it is switched away from and
back, converts once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from pipeline_lib.data.convert import DATASET_FORMATS, Sample
from pipeline_lib.data.labels import cityscapes_to_train_id_lut, gta5_to_train_id_lut, synthia_to_train_id_lut

# The tables every fingerprint has covered since the store began; another dataset's own table is added to
# its fingerprint, so that the fingerprints (and stored conversions) of these three stay valid.
_FIRST_TABLES = {
    "cityscapes": cityscapes_to_train_id_lut,
    "gta5": gta5_to_train_id_lut,
    "synthia": synthia_to_train_id_lut,
}

STORE = Path("data/converted/.store")
LABELS, FILE_LIST, REPORT = "labels", "file_list.csv", "report.json"


def fingerprint(dataset: str, split: str, root: Path, samples: Iterable[Sample], settings: dict) -> str:
    """A hash of everything the converted outputs of this root are a function of."""
    digest = hashlib.sha256()
    header = {"dataset": dataset, "split": split, "root": str(Path(root).resolve()), "settings": settings}
    digest.update(json.dumps(header, sort_keys=True).encode())
    tables = list(_FIRST_TABLES.values())
    if dataset not in _FIRST_TABLES:
        tables.append(DATASET_FORMATS[dataset].lut)
    for table in tables:
        digest.update(table().tobytes())
    for sample in samples:
        for path in (sample.image, sample.label):
            if path is None:
                digest.update(f"{sample.name}|no label\n".encode())
                continue
            try:
                stat = path.stat()
                digest.update(f"{sample.name}|{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
            except FileNotFoundError:
                digest.update(f"{sample.name}|{path}|absent\n".encode())
    return digest.hexdigest()[:20]


def entry(dataset: str, split: str, key: str, store: Path = STORE) -> Path:
    return store / f"{dataset}_{split}" / key


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link every (non-hidden) file of ``source`` into ``target`` (copy where the file system cannot link)."""
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name.startswith("."):  # Snakemake's .snakemake_timestamp marker belongs to the output, not the data
            continue
        destination = target / item.name
        try:
            os.link(item, destination)
        except OSError:
            shutil.copy2(item, destination)


def save(where: Path, labels_dir: Path, file_list: Path, report: Path) -> None:
    """Store a finished conversion's outputs at ``where`` (built beside it, renamed when complete)."""
    if where.is_dir():
        return
    partial = where.with_name(where.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _link_tree(labels_dir, partial / LABELS)
    shutil.copy2(file_list, partial / FILE_LIST)
    shutil.copy2(report, partial / REPORT)
    partial.rename(where)


def restore(where: Path, labels_dir: Path, file_list: Path, report: Path) -> bool:
    """Recreate the outputs from the store entry ``where``; False when there is none."""
    if not (where / FILE_LIST).is_file():
        return False
    shutil.rmtree(labels_dir, ignore_errors=True)
    _link_tree(where / LABELS, labels_dir)
    shutil.copy2(where / REPORT, report)
    shutil.copy2(where / FILE_LIST, file_list)
    return True
