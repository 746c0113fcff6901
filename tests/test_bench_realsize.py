"""``python -m bench realsize``: each chain's overlays plus the bench's overrides form a valid plan."""

import pytest
import yaml
from conftest import run_snakemake

from bench import realsize
from bench.common import REPO


@pytest.mark.workflow
@pytest.mark.parametrize("chain", list(realsize.CHAINS))
def test_every_chain_plans_with_the_cpu_micro_batches(workdir, chain):
    overlays, targets = realsize.CHAINS[chain]
    (workdir / "bench.yaml").write_text(yaml.safe_dump(realsize.chain_overrides(quick=False, on_cpu=True)))
    configs = [str(realsize.CONFIGS / overlay) for overlay in overlays] + [str(workdir / "bench.yaml")]
    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    result = run_snakemake(workdir, "-n", *targets, "--configfile", *configs)
    assert result.returncode == 0, result.stdout[-3000:]
    for target in targets:
        assert target in result.stdout, target  # each result is planned


def test_cpu_micro_batches_keep_the_papers_source_batch():
    shipped = yaml.safe_load((REPO / "config.yaml").read_text())
    dasac = realsize._merge(shipped, yaml.safe_load((realsize.CONFIGS / "real_gta5.yaml").read_text()))["dasac"]
    micro = realsize.CPU_MICRO_BATCHES["dasac"]
    for stage in ("baseline", "sac"):
        assert micro[stage]["batch_size"] * micro[stage]["accumulation_steps"] == (
            dasac[stage]["batch_size"] * dasac[stage]["accumulation_steps"]
        ), stage
    baseline = dasac["baseline"]
    assert micro["baseline"]["target_batch_size"] * micro["baseline"]["accumulation_steps"] == (
        baseline["target_batch_size"] * baseline["accumulation_steps"]
    )
