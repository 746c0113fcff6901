"""Where each round's files live, for the Snakemake rules (``rules/self_training.smk``).

Round r of method m reads round r-1's model, and round 1 the source model (``shared/spec/cbst_mlsl.md``
§2.1: no re-initialisation between rounds); every intermediate of a round sits under
``work/<m>/round<r>/``, never in shared mutable places (§4.6 QUIRK).
"""

from __future__ import annotations

from typing import Any

from pipeline_lib.selftrain.portions import PortionSchedule

#: From the source labels alone: one prior serves every seed.
SPATIAL_PRIOR = "work/spatial_prior/prior.npy"


#: Where rule selftrain_round0 writes ``self_training.round0_model`` as a udaflow model file: one
#: released model is every seed's round 0, and ``results/released_source/miou.json`` scores it.
RELEASED_SOURCE = "work/released_source/model.pt"


def previous_model(
    method: str, round_index: int, seed_dir: str = "", released_source: bool = False, source_run: str = "source"
) -> str:
    """The model round ``round_index`` fine-tunes; ``seed_dir`` is the seed's folder
    (``pipeline_lib.seeds.seed_dir``): each seed's rounds start from its own source model (the run
    ``source_run``, of the methods' width: ``pipeline_lib.class_protocols``), or all from the released
    one (``self_training.round0_model``) when ``released_source``."""
    if round_index == 1:
        return RELEASED_SOURCE if released_source else f"work/{seed_dir}{source_run}/model.pt"
    return f"work/{seed_dir}{method}/round{round_index - 1}/model.pt"


def previous_heads(method: str, round_index: int, seed_dir: str = "") -> str | list[str]:
    """The previous round's extra heads (MLSL's presence branch); round 1 has none (they start fresh)."""
    return [] if round_index == 1 else f"work/{seed_dir}{method}/round{round_index - 1}/aux_heads.pt"


def prior_input(method_switches: dict[str, Any]) -> str | list[str]:
    return SPATIAL_PRIOR if method_switches["spatial_prior"] else []


def target_portion(portions: dict[str, dict[str, float]], round_index: int) -> float:
    return PortionSchedule.from_config(portions["target"]).at_round(round_index)
