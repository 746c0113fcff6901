"""What a weight import loaded, left at its init or skipped, and how import errors list keys.

Shared by every importer (torchvision ImageNet files, the released AdaptSegNet, DA-SAC, ProDA/CPSL
and CBST models), so their logs and error messages read alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_SHOWN_KEYS = 8  # keys listed per category in an error message


@dataclass(frozen=True)
class LoadReport:
    """Outcome of a load, by key: ``loaded`` and ``missing`` name our keys, ``unexpected`` the file's.

    ``missing`` holds only keys that may legitimately stay unloaded (new layers, and BN
    ``num_batches_tracked`` that old torchvision files lack); ``unexpected`` the file keys with no
    counterpart by design (the ImageNet classifier).
    """

    loaded: list[str]
    missing: list[str]
    unexpected: list[str]

    def describe(self) -> str:
        """One line for logs: counts, and the missing/unexpected keys grouped by their first component."""
        return (
            f"{len(self.loaded)} tensors loaded; {_grouped('missing (kept at their init)', self.missing)}; "
            f"{_grouped('unexpected (in the file, not used)', self.unexpected)}"
        )


def _grouped(label: str, keys: list[str]) -> str:
    """``8 missing (layer5.* 8)``: keys counted per top-level module, so a whole head reads as one entry."""
    groups = Counter(key.split(".", 1)[0] for key in keys)
    listed = ", ".join(f"{top}.* {count}" for top, count in groups.items())
    return f"{len(keys)} {label}" + (f" ({listed})" if keys else "")


def listing(label: str, keys: list[str]) -> str:
    """``3 missing: a, b, c`` for an error message, at most ``_SHOWN_KEYS`` keys named."""
    shown = ", ".join(keys[:_SHOWN_KEYS])
    more = f", ... ({len(keys) - _SHOWN_KEYS} more)" if len(keys) > _SHOWN_KEYS else ""
    return f"{len(keys)} {label}: {shown}{more}"


@dataclass
class KeyMatch:
    """A file's arrays sorted against a model's ``state_dict`` by a key mapping."""

    mapped: dict[str, Any] = field(default_factory=dict)  # our key -> the file's array
    dropped: list[str] = field(default_factory=list)  # file keys without a counterpart by design
    unknown: list[str] = field(default_factory=list)  # file keys that map to none of ours
    mismatched: dict[str, str] = field(default_factory=dict)  # our key -> "file key (shape) vs our key (shape)"


def match_keys(
    source: Mapping[str, Any],
    ours: Mapping[str, Any],
    map_key: Callable[[str], str | None],
    dropped_prefixes: tuple[str, ...] = (),
) -> KeyMatch:
    """Sort ``source``'s arrays (anything with ``.shape``) onto ``ours`` through ``map_key``."""
    match = KeyMatch()
    for key, array in source.items():
        if key.startswith(dropped_prefixes):
            match.dropped.append(key)
            continue
        target = map_key(key)
        if target is None or target not in ours:
            match.unknown.append(key)
        elif tuple(ours[target].shape) != tuple(array.shape):
            match.mismatched[target] = f"{key} {tuple(array.shape)} vs {target} {tuple(ours[target].shape)}"
        else:
            match.mapped[target] = array
    return match
