"""The shared training engine: poly LR, checkpoint/resume, SIGTERM handling, CSV log."""

import os
import signal

import pandas as pd
import pytest
import torch
from torch import nn

from pipeline_lib.engine.schedule import poly_lr
from pipeline_lib.engine.trainer import Trainer, TrainerConfig


def make_run(state_dir, iterations=12, fingerprint="a", checkpoint_every=4, fail_at=None, signal_at=None,
             signals=(signal.SIGTERM,)):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(
        [{"params": [model.weight], "lr_mult": 1.0}, {"params": [model.bias], "lr_mult": 2.0}], lr=0.1, momentum=0.9
    )
    trainer = Trainer(
        modules={"model": model},
        optimizers={"sgd": optimizer},
        base_lrs={"sgd": 0.1},
        config=TrainerConfig(iterations=iterations, checkpoint_every=checkpoint_every, log_every=2),
        state_dir=state_dir,
        device=torch.device("cpu"),
        fingerprint=fingerprint,
    )

    def step(iteration):
        if iteration == fail_at:
            raise KeyboardInterrupt  # a kill between checkpoints
        if iteration == signal_at:
            for signum in signals:
                os.kill(os.getpid(), signum)
        data = torch.Generator().manual_seed(iteration)
        x = torch.randn(4, 3, generator=data)
        noise = torch.rand(4, 2) * 0.01  # uses the global RNG, which the checkpoint must restore
        loss = ((model(x) - x[:, :2] - noise) ** 2).mean()
        trainer.backward(loss)
        return {"loss": loss.item()}

    return trainer, model, step


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    trainer, reference, step = make_run(tmp_path / "straight")
    trainer.run(step)

    trainer, _, step = make_run(tmp_path / "killed", fail_at=10)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(step)
    resumed, model, step = make_run(tmp_path / "killed")
    assert resumed.start_iteration == 8  # the last periodic checkpoint, not 0
    resumed.run(step)
    torch.testing.assert_close(model.state_dict(), reference.state_dict())
    log = pd.read_csv(tmp_path / "killed" / "train_log.csv")
    assert log["iteration"].tolist() == [2, 4, 6, 8, 10, 12]


def test_resume_drops_a_row_torn_by_the_kill(tmp_path):
    trainer, _, step = make_run(tmp_path, fail_at=10)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(step)
    with (tmp_path / "train_log.csv").open("a") as log:
        log.write("4")  # the kill cut an append short: its iteration would parse as 4, before the checkpoint
    resumed, _, step = make_run(tmp_path)
    resumed.run(step)
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log["iteration"].tolist() == [2, 4, 6, 8, 10, 12]
    assert not log.isna().any().any()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_and_exits(tmp_path, signum):
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in a background job
    trainer, _, step = make_run(tmp_path, signal_at=5, signals=(signum,))
    with pytest.raises(SystemExit) as stopped:
        trainer.run(step)
    assert stopped.value.code == 128 + signum
    assert signal.getsignal(signal.SIGINT) is before  # restored after the run
    resumed, _, _ = make_run(tmp_path)
    assert resumed.start_iteration == 6


def test_second_ctrl_c_stops_at_once(tmp_path):
    trainer, _, step = make_run(tmp_path, signal_at=5, signals=(signal.SIGINT, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        trainer.run(step)
    resumed, _, _ = make_run(tmp_path)
    assert resumed.start_iteration == 4  # no checkpoint at 6: the last periodic one


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    trainer, _, step = make_run(tmp_path, fail_at=6)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(step)
    other, _, _ = make_run(tmp_path, fingerprint="b")
    assert other.start_iteration == 0


def test_poly_lr_and_group_multipliers(tmp_path):
    trainer, _, step = make_run(tmp_path, iterations=4)
    trainer.run(step)
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log["lr_sgd"].iloc[0] == pytest.approx(poly_lr(0.1, 1, 4, 0.9))
    groups = trainer.optimizers["sgd"].param_groups
    assert groups[1]["lr"] == pytest.approx(2 * groups[0]["lr"])
    assert poly_lr(1.0, 0, 10, 0.9) == 1.0 and poly_lr(1.0, 10, 10, 0.9) == 0.0


def test_non_finite_loss_stops_training(tmp_path):
    trainer, _, _ = make_run(tmp_path)
    with pytest.raises(FloatingPointError, match="iteration 0"):
        trainer.run(lambda iteration: {"loss": float("nan")})
