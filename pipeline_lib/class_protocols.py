"""How many outputs each method's networks have: the SYNTHIA class protocol of each method's reference.

SYNTHIA has no terrain, truck or train. CBST/MLSL and ProDA/CPSL train and test 16-output networks
(``compact16``: the Cityscapes ground truth of those three classes ignored; ``--n_class 16``,
``shared/spec/datasets_eval.md`` §3.4-§3.5), while AdaptSegNet and DA-SAC train 19 outputs and report
the means over 16 and 13 of them (``drop3``). ``model.num_classes: per_method`` (the default) gives
every method its reference's choice, so a SYNTHIA run that has both kinds trains two source-only
models: ``source`` (19 outputs) and ``source_compact16`` (16 outputs, round 0 of the self-training
methods and the baseline of their gains); ``19`` or ``16`` holds every method to one. GTA5 has all 19
classes, so there ``per_method`` is 19 everywhere.
"""

from __future__ import annotations

PER_METHOD = "per_method"
#: Method family -> outputs its reference trains with SYNTHIA as the source.
SYNTHIA_REFERENCE_OUTPUTS = {"self_training": 16, "cpsl": 16, "adaptseg": 19, "dasac": 19}
#: Outputs -> the source-only run (``results/<run>/miou.json``, ``work/<run>/model.pt``) of that width.
SOURCE_RUNS = {19: "source", 16: "source_compact16"}
#: ``class_protocol`` of ``miou.json`` (``pipeline_lib.metrics.PROTOCOLS``) -> outputs.
PROTOCOL_OUTPUTS = {"19": 19, "compact16": 16}


def method_outputs(setting: int | str, source: str, family: str) -> int:
    """The outputs of ``family``'s networks (a key of ``SYNTHIA_REFERENCE_OUTPUTS``) under ``model.num_classes``."""
    if family not in SYNTHIA_REFERENCE_OUTPUTS:
        raise ValueError(f"unknown method family {family!r} (known: {', '.join(SYNTHIA_REFERENCE_OUTPUTS)})")
    if setting != PER_METHOD:
        return int(setting)
    return SYNTHIA_REFERENCE_OUTPUTS[family] if source == "synthia" else 19


def source_run(num_classes: int) -> str:
    """The source-only run whose model has ``num_classes`` outputs."""
    return SOURCE_RUNS[num_classes]


def source_run_outputs(run: str) -> int:
    """The inverse of ``source_run``: ``source_compact16`` -> 16."""
    return {name: outputs for outputs, name in SOURCE_RUNS.items()}[run]


def baseline_run(class_protocol: str) -> str:
    """The source-only run a result of ``class_protocol`` is compared with (same outputs, same scoring)."""
    return source_run(PROTOCOL_OUTPUTS[class_protocol])
