"""model.num_classes: per_method gives each method its reference's SYNTHIA protocol (issue 17)."""

import pytest
from conftest import run_snakemake, tiny_config

from pipeline_lib.class_protocols import baseline_run, method_outputs, source_run, source_run_outputs


def test_per_method_follows_each_reference_on_synthia_and_is_19_on_gta5():
    synthia = {family: method_outputs("per_method", "synthia", family) for family in ("self_training", "cpsl")}
    assert synthia == {"self_training": 16, "cpsl": 16}  # CBST/MLSL and ProDA/CPSL: --n_class 16
    assert method_outputs("per_method", "synthia", "adaptseg") == method_outputs("per_method", "synthia", "dasac") == 19
    assert method_outputs("per_method", "gta5", "cpsl") == 19
    assert method_outputs(16, "synthia", "adaptseg") == 16 and method_outputs(19, "synthia", "cpsl") == 19
    with pytest.raises(ValueError, match="unknown method family 'source'"):
        method_outputs("per_method", "synthia", "source")


def test_each_width_has_its_own_source_run():
    assert (source_run(19), source_run(16)) == ("source", "source_compact16")
    assert source_run_outputs("source_compact16") == 16
    assert baseline_run("compact16") == "source_compact16" and baseline_run("19") == "source"


@pytest.mark.workflow
def test_a_19_output_adaptseg_warm_up_for_16_output_cpsl_is_refused_at_parse_time(workdir):
    config = tiny_config()
    config["source"] = "synthia"
    config["cpsl"]["warmup_model"] = "adaptseg_lsgan"
    result = run_snakemake(workdir, "-n", "results/cpsl/stage1/miou.json", config=config)
    assert result.returncode != 0
    assert "config key cpsl.warmup_model: 'adaptseg_lsgan' has 19 outputs" in result.stdout
