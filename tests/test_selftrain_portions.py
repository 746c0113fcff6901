"""CBST's per-round schedules (spec §2.2): portions, LR and nested source subsets."""

import math

import numpy as np
import pytest

from pipeline_lib.methods.self_training import round_iterations
from pipeline_lib.selftrain.portions import PortionSchedule, round_learning_rate, source_subset


def test_target_portion_matches_the_cbst_gta_table():
    schedule = PortionSchedule.from_config({"initial": 0.15, "step": 0.05, "max": 0.5})
    assert [schedule.at_round(r) for r in range(1, 7)] == [0.15, 0.2, 0.25, 0.3, 0.35, 0.4]


def test_source_portion_matches_the_cbst_table_and_overshoots_max_by_one_step():
    schedule = PortionSchedule(initial=0.03, step=0.0025, maximum=0.06)
    assert [schedule.at_round(r) for r in range(1, 7)] == [0.03, 0.0325, 0.035, 0.0375, 0.04, 0.0425]
    assert [int(24966 * schedule.at_round(r)) for r in range(1, 7)] == [748, 811, 873, 936, 998, 1061]
    # "strictly below max" is tested before the increment (solve_AO.py L149-155)
    capped = PortionSchedule(initial=0.4, step=0.15, maximum=0.5)
    assert [capped.at_round(r) for r in range(1, 5)] == [0.4, 0.55, 0.55, 0.55]


def test_round_numbering_starts_at_one():
    with pytest.raises(ValueError, match="numbered from 1"):
        PortionSchedule(0.2, 0.05, 0.5).at_round(0)


def test_learning_rate_divided_by_sqrt2_per_round():
    assert round_learning_rate(1e-4, 1) == 1e-4
    assert round_learning_rate(1e-4, 3) == pytest.approx(5e-5)
    assert round_learning_rate(1e-4, 2) == pytest.approx(1e-4 / math.sqrt(2))


def test_cumulative_source_subsets_are_nested_and_random_ones_are_not():
    small = source_subset(1000, 0.03, seed=0, round_index=1, policy="cumulative")
    large = source_subset(1000, 0.05, seed=0, round_index=2, policy="cumulative")
    assert len(small) == 30 and len(large) == 50
    assert set(small) <= set(large)
    first = source_subset(1000, 0.05, seed=0, round_index=1, policy="random")
    second = source_subset(1000, 0.05, seed=0, round_index=2, policy="random")
    assert not np.array_equal(first, second)
    with pytest.raises(ValueError, match="source_sample_policy"):
        source_subset(10, 0.5, 0, 1, "stratified")


def test_epochs_per_round_give_the_reference_step_counts():
    """2 epochs at batch 2 of int(24966 s_r) GTA5 frames + 505 targets: spec §2.2's 1252 ... 1566 steps."""
    sources = [int(24966 * s) for s in (0.03, 0.0325, 0.035, 0.0375, 0.04, 0.0425)]
    steps = [round_iterations(150, 2, count + 505, 2) for count in sources]
    assert steps == [1252, 1316, 1378, 1440, 1502, 1566]
    assert round_iterations(150, None, 1253, 2) == 150
    with pytest.raises(ValueError, match="1 training frames give no full batch of 2"):
        round_iterations(150, 2, 1, 2)
