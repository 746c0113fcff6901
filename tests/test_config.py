"""Config validation: a wrong key or type, a missing dataset root or weights file fails at parse time, naming it."""

from conftest import run_snakemake, tiny_config


def test_shipped_config_resolves_the_dag(workdir):
    result = run_snakemake(workdir, "-n", config=tiny_config())
    assert result.returncode == 0, result.stdout
    assert "train_source" in result.stdout


def test_misspelled_key_is_named(workdir):
    config = tiny_config()
    config["training"]["source"]["iteratons"] = config["training"]["source"].pop("iterations")
    result = run_snakemake(workdir, "-n", config=config)
    assert result.returncode != 0
    assert "'iteratons' was unexpected" in result.stdout


def test_wrong_type_is_named(workdir):
    config = tiny_config()
    config["training"]["source"]["batch_size"] = "four"
    result = run_snakemake(workdir, "-n", config=config)
    assert result.returncode != 0
    assert "'four' is not of type 'integer'" in result.stdout
    assert "config key training.source.batch_size: 'four'" in result.stdout
    assert "Failed validating" not in result.stdout  # no schema dump


def test_unknown_architecture_is_named(workdir):
    config = tiny_config()
    config["model"]["arch"] = "resnet9000"
    result = run_snakemake(workdir, "-n", config=config)
    assert result.returncode != 0
    assert "'resnet9000' is not one of" in result.stdout


def test_missing_dataset_root_is_named(workdir):
    config = tiny_config()
    config["demo"]["generate"] = False
    config["datasets"]["cityscapes"]["root"] = str(workdir / "no-such-cityscapes")
    result = run_snakemake(workdir, "-n", config=config)
    assert result.returncode != 0
    assert "datasets.cityscapes.root" in result.stdout and "no-such-cityscapes" in result.stdout


def test_missing_weights_file_is_named_before_any_job_runs(workdir):
    config = tiny_config()
    config["model"]["imagenet_weights"] = str(workdir / "no-such-resnet.pth")
    config["cpsl"]["distillation"]["student_init"] = str(workdir / "no-such-simclr.pth")
    result = run_snakemake(workdir, "-n", config=config)
    assert result.returncode != 0
    assert "config key model.imagenet_weights: file" in result.stdout and "no-such-resnet.pth" in result.stdout
    assert "config key cpsl.distillation.student_init: file" in result.stdout and "no-such-simclr.pth" in result.stdout
