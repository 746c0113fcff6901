"""Report building blocks: which runs it shows, the mIoU plot, the per-class table, pseudo-label statistics,
panels, and the onsuccess/onerror messages."""

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline_lib.data.labels import CLASSES_16, IGNORE_INDEX, TRAIN_CLASSES, colorize
from pipeline_lib.evaluation import Prediction, visualization_panel
from pipeline_lib.jobs.report_scores import table_order
from pipeline_lib.report import runs
from pipeline_lib.report.figure_files import MAX_HEIGHT_PX, MAX_WIDTH_PX, figure_dpi, save_figure
from pipeline_lib.report.job_times import SHARED, job_times, method_of_log
from pipeline_lib.report.panels import CELL_WIDTH, block_count, image_grid, shrink, split_visual
from pipeline_lib.report.papers import paper_numbers, read_papers
from pipeline_lib.report.plots import miou_figure, per_class_frame, per_class_html
from pipeline_lib.report.pseudo_labels import LabelCounts, round_statistics, statistics_figure
from pipeline_lib.report.training import training_figure
from pipeline_lib.run_messages import error_message, failed_jobs, success_message

TARGETS = [
    "results/source/miou.json",
    "results/cbst_sp/round3/miou.json",
    "results/cpsl/stage2/miou.json",
    "results/dasac/miou.json",
    "results/summary.csv",
]


def scores(miou, synthia=False):
    per_class = {name: float(i) for i, name in enumerate(TRAIN_CLASSES)}
    result = {"miou": miou, "per_class": per_class}
    if synthia:
        for name in ("terrain", "truck", "train"):
            per_class[name] = 0.0
        result.update(miou16=miou + 1, miou13=miou + 2)
    return result


# --- runs -----------------------------------------------------------------------------------------


def test_runs_follow_the_default_targets():
    assert [run.name for run in runs.final_runs(TARGETS)] == ["source", "cbst_sp/round3", "cpsl/stage2", "dasac"]
    assert [run.name for run in runs.step_runs(TARGETS)] == [
        "source", "cbst_sp/round1", "cbst_sp/round2", "cbst_sp/round3", "cpsl/stage1", "cpsl/stage2", "dasac",
    ]
    assert runs.parse_run("cpsl/stage2") == runs.Run("cpsl", "stage", 2)
    assert runs.Run("cbst", "round", 1).miou == "results/cbst/round1/miou.json"
    with pytest.raises(ValueError, match="results/cbst/epoch2/miou.json"):
        runs.final_runs(["results/cbst/epoch2/miou.json"])


def test_scored_runs_are_every_step_then_the_warm_ups_of_reported_methods():
    assert runs.scored_runs(TARGETS, {"cpsl": "cpsl_warmup", "dasac_x": "elsewhere"}) == [
        "results/source/miou.json", "results/cbst_sp/round1/miou.json", "results/cbst_sp/round2/miou.json",
        "results/cbst_sp/round3/miou.json", "results/cpsl/stage1/miou.json", "results/cpsl/stage2/miou.json",
        "results/dasac/miou.json", "results/cpsl_warmup/miou.json",
    ]


def test_report_outputs_add_pseudo_label_figures_for_self_training_methods_only():
    outputs = runs.report_outputs(TARGETS, ["st", "cbst_sp"])
    assert outputs == [
        "results/report/miou.png",
        "results/report/per_class_iou.html",
        "results/report/validation_panels.png",
        "results/report/training.png",
        "results/report/job_times.csv",
        "results/report/pseudo_labels/cbst_sp/statistics.png",
        "results/report/pseudo_labels/cbst_sp/panels.png",
    ]


# --- mIoU plot and per-class table ----------------------------------------------------------------


def test_miou_figure_has_one_panel_per_stepped_method_with_round_zero_at_source():
    results = {
        "source": scores(15.0),
        "cbst_sp/round1": scores(18.0),
        "cbst_sp/round2": scores(21.0),
        "cpsl/stage1": scores(30.0),
        "cpsl/stage2": scores(33.0),
        "dasac": scores(40.0),
    }
    figure = miou_figure(results, ["source", "cbst_sp/round2", "cpsl/stage2", "dasac"])
    visible = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in visible] == ["final result per method", "cbst_sp", "cpsl"]
    bars = [patch.get_width() for patch in visible[0].patches]
    assert bars == [15.0, 21.0, 33.0, 40.0]
    rounds_line = visible[1].lines[0]
    assert list(rounds_line.get_xdata()) == [0, 1, 2] and list(rounds_line.get_ydata()) == [15.0, 18.0, 21.0]
    stages_line = visible[2].lines[0]
    assert list(stages_line.get_xdata()) == [1, 2] and list(stages_line.get_ydata()) == [30.0, 33.0]
    assert visible[2].lines[1].get_ydata()[0] == 15.0  # the source-only reference line


def test_a_warm_up_is_reported_only_with_its_method():
    starts = {"cpsl": "adaptseg_lsgan"}
    assert runs.used_starts(TARGETS, starts) == starts
    assert runs.used_starts(["results/source/miou.json", "results/cbst_sp/round1/miou.json"], starts) == {}


def test_miou_figure_draws_the_spread_over_seeds():
    results = {"source": {**scores(15.0), "seeds": 3}, "cbst_sp/round1": scores(18.0), "cbst_sp/round2": scores(21.0)}
    spreads = {"source": {"miou": 1.0}, "cbst_sp/round1": {"miou": 2.0}, "cbst_sp/round2": {"miou": 0.5}}
    figure = miou_figure(results, ["source", "cbst_sp/round2"], spreads=spreads)
    bars, rounds = figure.axes[0], figure.axes[1]
    assert bars.get_title() == "final result per method (mean ± std, 3 seeds)"
    assert [text.get_text() for text in bars.texts] == ["15.0±1.0", "21.0±0.5"]
    band = rounds.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(14.0) and band[:, 1].max() == pytest.approx(21.5)


def test_miou_figure_puts_a_staged_method_s_warm_up_at_stage_zero():
    results = {"source": scores(15.0), "adaptseg_lsgan": scores(20.0), "cpsl/stage1": scores(30.0)}
    figure = miou_figure(results, ["source", "adaptseg_lsgan", "cpsl/stage1"], {"cpsl": "adaptseg_lsgan"})
    panel = figure.axes[1]
    assert list(panel.lines[0].get_xdata()) == [0, 1] and list(panel.lines[0].get_ydata()) == [20.0, 30.0]
    assert panel.get_xlabel() == "stage (0 = adaptseg_lsgan)"
    unscored = miou_figure(results, ["source", "cpsl/stage1"], {"cpsl": "released"})  # no result: no stage 0
    assert list(unscored.axes[1].lines[0].get_xdata()) == [1]


def test_miou_figure_for_synthia_plots_miou16_and_miou13():
    results = {"source": scores(10.0, True), "cbst/round1": scores(12.0, True)}
    figure = miou_figure(results, ["source", "cbst/round1"])
    lines = figure.axes[1].lines
    assert [line.get_label() for line in lines[:2]] == ["mIoU16", "mIoU13"]
    assert list(lines[0].get_ydata()) == [11.0, 13.0] and list(lines[1].get_ydata()) == [12.0, 14.0]


EXTRA = ["gain over source only", "gain over source only std", "paper", "pixel acc."]


def test_per_class_table_19_and_synthia_16_13():
    frame = per_class_frame({"source": scores(15.0), "cbst/round3": scores(20.0)})
    assert list(frame.columns) == ["mIoU", "mIoU std", *EXTRA, *TRAIN_CLASSES]
    assert frame.loc["cbst/round3", "mIoU"] == 20.0 and frame.loc["source", "bicycle"] == 18.0

    compact16 = {**scores(16.0, True), "class_protocol": "compact16", "gain": 1.0}
    synthia = per_class_frame({"source": scores(15.0, True), "source_compact16": compact16, "cbst/round1": compact16})
    assert list(synthia.columns[:4]) == ["mIoU16", "mIoU16 std", "mIoU13", "outputs"]
    assert len(synthia.columns) == 4 + 4 + 16
    assert "terrain" not in synthia.columns and "wall*" in synthia.columns and "road" in synthia.columns
    assert synthia.loc["source", "mIoU13"] == 17.0
    assert synthia["outputs"].tolist() == [19, 16, 16]  # which protocol each row's mIoU16/13 follow
    assert synthia["gain over source only"].isna().tolist() == [True, True, False]  # both source-only runs


def test_per_class_table_carries_spread_gain_paper_and_pixel_accuracy():
    results = {"source": {**scores(15.0), "pixel_accuracy": 60.0, "gain": 0.0},
               "cbst/round1": {**scores(18.0), "gain": 3.0}, "cbst/round2": {**scores(20.0), "gain": 5.0}}
    spreads = {"cbst/round2": {"miou": 1.5, "gain": 0.5}}
    papers = pd.read_csv(io.StringIO(PAPERS), keep_default_na=False, dtype={"step": str})
    published = paper_numbers(papers, "gta5", results)
    assert published == {"source": 36.6, "cbst/round2": 45.2}  # "final" = the last round shown
    frame = per_class_frame(results, spreads, published)
    assert frame.loc["cbst/round2", "mIoU std"] == 1.5 and frame.loc["cbst/round2", "gain over source only"] == 5.0
    assert frame.loc["cbst/round2", "gain over source only std"] == 0.5
    assert math.isnan(frame.loc["source", "gain over source only"])  # no gain of source-only over itself
    assert frame.loc["cbst/round2", "paper"] == 45.2 and math.isnan(frame.loc["cbst/round1", "paper"])
    assert frame.loc["source", "pixel acc."] == 60.0
    html = per_class_html(frame)
    assert "+5.0" in html and "±0.5" in html and ">run<" not in html
    assert ">60.0<" in html and "60.000000" not in html  # every number to one decimal


def test_table_order_puts_each_method_s_warm_up_and_steps_under_its_final():
    results = {name: {} for name in ["adaptseg_lsgan", "cpsl/stage2", "cpsl/stage1", "cpsl_warmup", "source"]}
    order = table_order(["source", "cpsl/stage2", "adaptseg_lsgan"], results, {"cpsl": "cpsl_warmup"})
    assert order == ["source", "cpsl_warmup", "cpsl/stage1", "cpsl/stage2", "adaptseg_lsgan"]


def test_shipped_papers_file_has_the_readme_numbers():
    papers = read_papers(Path(__file__).resolve().parents[1] / "workflow/report/papers.csv")
    names = ["source", "cbst_sp/round3", "dasac", "cpsl/stage1", "cpsl/stage3", "cpsl_warmup"]
    assert paper_numbers(papers, "gta5", names) == {
        "source": 36.6, "cbst_sp/round3": 46.2, "dasac": 53.8, "cpsl/stage1": 55.7, "cpsl/stage3": 60.8,
        "cpsl_warmup": 41.4,
    }
    assert paper_numbers(papers, "synthia", ["dasac", "cbst/round6"]) == {"dasac": 52.6, "cbst/round6": 42.5}


PAPERS = """method,step,source,metric,value,network,reference
source,,gta5,miou,36.6,R101,x
cbst,final,gta5,miou,45.2,R38,x
cbst,final,synthia,miou16,42.5,R38,x
"""


def test_per_class_html_is_a_pandas_table_with_the_best_run_marked():
    frame = per_class_frame({"source": scores(15.0), "dasac": scores(20.0)})
    frame.loc["source", "road"] = 55.5
    html = per_class_html(frame)
    assert html.startswith("<!DOCTYPE html>") and "traffic sign" in html and "55.5" in html
    assert html.count("font-weight: bold") >= 1


# --- training curves ------------------------------------------------------------------------------


def _log(iterations, **losses):
    return pd.DataFrame({"iteration": iterations, "lr": 0.1, **losses})


def test_training_figure_chains_a_method_s_steps_after_its_warm_up():
    logs = {
        "source": _log([10, 20], loss_seg=[2.0, 1.0]),
        "cpsl_warmup": _log([10, 20], loss_seg=[3.0, 2.0], loss_adv_out=[0.5, 0.4]),
        "cpsl/stage1": _log([5, 10], loss_source=[1.0, 0.9]),
        "cbst_sp/round1": _log([4, 8], loss_seg=[1.5, 1.4]),
        "cbst_sp/round2": _log([4, 8], loss_seg=[1.3, 1.2]),
    }
    figure = training_figure(logs, {"cpsl": "cpsl_warmup"})
    panels = {axis.get_title(): axis for axis in figure.axes if axis.get_visible()}
    assert sorted(panels) == ["cbst_sp", "cpsl", "source"]  # the warm-up has no panel of its own
    cpsl = panels["cpsl"]
    # warm-up iterations 10, 20, then stage 1 continues at 20 + 5, 20 + 10
    assert [list(line.get_xdata()) for line in cpsl.lines if line.get_linestyle() == "-"] == [
        [10, 20], [10, 20], [25, 30]]
    assert [list(line.get_xdata()) for line in panels["cbst_sp"].lines if line.get_linestyle() == "-"] == [
        [4, 8], [12, 16]]
    assert {text.get_text() for text in cpsl.texts} == {"cpsl_warmup", "stage1"}


def test_train_logs_of_self_training_rounds_live_under_work():
    assert runs.train_log("cbst_sp/round2", ["cbst_sp"]) == "work/cbst_sp/round2/train_log.csv"
    assert runs.train_log("cpsl/stage1", ["cbst_sp"]) == "results/cpsl/stage1/train_log.csv"
    assert runs.trained_runs(TARGETS, {"cpsl": "cpsl_warmup"})[-1] == "cpsl_warmup"


def test_job_times_sum_each_method_s_finished_jobs_from_their_logs(tmp_path):
    logs = {
        "train_source.log": "x\nINFO udaflow: job done in 120.0 s, peak RSS 500 MB\n",
        "evaluate/source.log": "INFO udaflow: job done in 30.0 s, peak RSS 300 MB\n",
        "self_training/cbst_sp/round1/finetune.log": "INFO udaflow: job done in 60.0 s, peak RSS 700 MB\n",
        "evaluate/cbst_sp/round1.log": "INFO udaflow: job done in 6.0 s, peak RSS 200 MB\n",
        "seed1/train_source.log": "INFO udaflow: job done in 999.0 s, peak RSS 1 MB\n",  # another seed
        "convert_labels/gta5_all.log": "INFO udaflow: job done in 12.0 s, peak RSS 100 MB\n",
        "cpsl/stage1.log": "[10/400] still running\n",  # not finished: not counted
        "report/scores.log": "INFO udaflow: job done in 1.0 s, peak RSS 90 MB\n",
    }
    for name, text in logs.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    table = job_times(tmp_path, ["source", "cbst_sp", "cpsl"]).set_index("method")
    assert list(table.index) == ["source", "cbst_sp", SHARED]
    assert table.loc["source", "jobs"] == 2 and table.loc["source", "minutes"] == pytest.approx(2.5)
    assert table.loc["cbst_sp", "peak_rss_mb"] == 700 and table.loc[SHARED, "minutes"] == pytest.approx(0.2)
    assert method_of_log("train_adaptseg/lsgan.log") == "adaptseg_lsgan"
    assert method_of_log("cpsl/train_warmup.log") == "cpsl_warmup"
    assert method_of_log("train_source_compact16.log") == "source_compact16"
    assert method_of_log("evaluate/source_compact16.log") == "source_compact16"


# --- pseudo-label statistics ----------------------------------------------------------------------


def test_label_counts_and_round_statistics():
    pseudo = np.array([[0, 0, 1, IGNORE_INDEX], [1, 1, IGNORE_INDEX, IGNORE_INDEX]], dtype=np.uint8)
    truth = np.array([[0, 1, 1, 0], [IGNORE_INDEX, 2, 2, 2]], dtype=np.uint8)
    counts = LabelCounts()
    counts.update(pseudo, truth)
    names = list(TRAIN_CLASSES)
    payload = {
        "target_portion": 0.2,
        "thresholds": {name: 1.0 if i > 1 else 0.5 + i / 10 for i, name in enumerate(names)},
        "class_pixels": {name: 3 if i < 2 else 0 for i, name in enumerate(names)},
    }
    table = round_statistics(1, payload, counts).set_index("class")
    assert table.loc["road", "threshold"] == 0.5 and table.loc["sidewalk", "threshold"] == 0.6
    assert table.loc["road", "argmax_share"] == 50.0
    assert table.loc["road", "labelled_share"] == 25.0 and table.loc["sidewalk", "labelled_share"] == 37.5
    # road: 2 labelled, both checked, 1 correct; sidewalk: 3 labelled, one on an ignore pixel, 1 of 2 correct
    assert table.loc["road", "agreement"] == 50.0 and table.loc["sidewalk", "agreement"] == 50.0
    assert math.isnan(table.loc["building", "agreement"])
    assert table.loc["all", "labelled_share"] == 62.5 and table.loc["all", "agreement"] == 50.0
    assert set(table["round"]) == {1} and set(table["target_portion"]) == {0.2}

    without_truth = LabelCounts()
    without_truth.update(pseudo, None)
    assert round_statistics(1, payload, without_truth)["agreement"].isna().all()

    with pytest.raises(ValueError, match=r"\[19\]"):
        LabelCounts().update(np.full((2, 2), 19, dtype=np.uint8), None)
    with pytest.raises(ValueError, match="differ in size"):
        LabelCounts().update(pseudo, truth[:1])


def test_statistics_figure_one_heatmap_per_quantity():
    names = [*TRAIN_CLASSES, "all"]
    stats = pd.DataFrame(
        [
            {"round": r, "class": name, "target_portion": 0.2 + 0.05 * (r - 1), "threshold": 0.9,
             "argmax_share": 5.0, "labelled_share": 2.0, "agreement": 80.0}
            for r in (1, 2) for name in names
        ]
    )
    figure = statistics_figure(stats, "cbst")
    heatmaps = [axis for axis in figure.axes if axis.images]
    assert len(heatmaps) == 3
    assert heatmaps[0].images[0].get_array().shape == (20, 2)
    assert [label.get_text() for label in heatmaps[0].get_xticklabels()] == ["r1\np=0.20", "r2\np=0.25"]


# --- panels ---------------------------------------------------------------------------------------


def test_split_visual_inverts_the_evaluation_panel():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 19, (8, 12), dtype=np.uint8)
    prediction = rng.integers(0, 19, (8, 12), dtype=np.uint8)
    image = rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)
    panel = visualization_panel(Prediction("a", image, prediction, label))
    got_image, got_truth, got_prediction = split_visual(panel)
    np.testing.assert_array_equal(got_image, image)
    np.testing.assert_array_equal(got_truth, colorize(label))
    np.testing.assert_array_equal(got_prediction, colorize(prediction))
    with pytest.raises(ValueError, match="three equal"):
        split_visual(panel[:, :-1])


def test_shrink_keeps_label_colours_and_image_grid_checks_its_shape():
    label = colorize(np.tile(np.arange(19, dtype=np.uint8), (64, 64)))
    small = shrink(label, is_label=True)
    assert small.shape[1] == CELL_WIDTH
    assert {tuple(c) for c in small.reshape(-1, 3)} <= {tuple(c) for c in label.reshape(-1, 3)}
    figure = image_grid([[small, None]], ["row"], ["a", "b"], "title")
    assert len([axis for axis in figure.axes if axis.images]) == 1
    assert len(figure.legends[0].get_texts()) == 20  # 19 classes + ignore
    with pytest.raises(ValueError, match="does not match"):
        image_grid([[small]], ["row"], ["a", "b"], "title")


def test_a_tall_grid_folds_into_blocks_no_taller_than_wide_each_with_the_header_rows():
    """The validation panels of 12 methods (14 rows of 4 images) would be twice as tall as wide: the
    report viewer would hide their top. Folded, every block starts with the image and ground-truth rows."""
    cell = np.zeros((128, 256, 3), dtype=np.uint8)
    labels = ["image", "ground truth", *(f"method{i}" for i in range(12))]
    assert block_count(14, 4, 0.5, header=2) == 2 and block_count(5, 4, 0.5, header=2) == 1
    figure = image_grid([[cell] * 4 for _ in labels], labels, list("abcd"), "title", header_rows=2)
    width, height = figure.get_size_inches()
    assert height <= width
    ylabels = [axis.get_ylabel() for axis in figure.axes if axis.get_visible() and axis.get_ylabel()]
    assert ylabels.count("image") == 2 and ylabels.count("ground truth") == 2
    assert {f"method{i}" for i in range(12)} <= set(ylabels)


# --- onsuccess / onerror --------------------------------------------------------------------------

# Verbatim from a Snakemake 9.27 log (two failed jobs, one with a log file).
SNAKEMAKE_LOG = """\
[Sun Nov 22 02:08:24 2026]
Error in rule a:
    message: None
    jobid: 1
    output: a.txt
    log: logs/a.log (check log file(s) for error details)
    shell:
        echo boom > logs/a.log; exit 1
        (command exited with non-zero exit code)
RuleException:
CalledProcessError in file "/tmp/smkfail/Snakefile", line 7:
Command 'set -euo pipefail;  exit 1' returned non-zero exit status 1.
[Sun Nov 22 02:08:24 2026]
Error in rule b:
    message: None
    jobid: 2
    output: b.txt
    shell:
        exit 1
        (command exited with non-zero exit code)
Exiting because a job execution failed. Look above for error messages
"""


def test_error_message_names_failed_jobs_and_shows_their_log_tail(tmp_path):
    assert failed_jobs(SNAKEMAKE_LOG) == [("a", ["logs/a.log"]), ("b", [])]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/a.log").write_text("line\n" * 10 + "ValueError: config key x is wrong\n")
    snakemake_log = tmp_path / "snakemake.log"
    snakemake_log.write_text(SNAKEMAKE_LOG)
    message = error_message(tmp_path, [str(snakemake_log)])
    assert "rule a failed; its log logs/a.log ends with:" in message
    assert "      ValueError: config key x is wrong" in message
    assert "rule b failed (no log file" in message and str(snakemake_log) in message


def test_error_message_calls_a_run_whose_jobs_were_stopped_by_a_signal_interrupted(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/a.log").write_text("WARNING stopped by signal 2 after iteration 223, checkpoint saved\n")
    snakemake_log = tmp_path / "snakemake.log"
    snakemake_log.write_text(SNAKEMAKE_LOG.replace("Error in rule b:", "Done with rule b:"))
    message = error_message(tmp_path, [str(snakemake_log)])
    assert message.startswith("udaflow was interrupted") and "rule a was stopped" in message

    (tmp_path / "logs/a.log").write_text("ValueError: config key x is wrong\n")
    assert error_message(tmp_path, [str(snakemake_log)]).startswith("udaflow stopped on an error.")

    # A job stopped once, resumed, then failed: its appended log still holds the old stop further up.
    (tmp_path / "logs/a.log").write_text(
        "WARNING stopped by signal 2 after iteration 223, checkpoint saved\n" + "line\n" * 10 + "ValueError: bad\n"
    )
    assert error_message(tmp_path, [str(snakemake_log)]).startswith("udaflow stopped on an error.")


def test_success_message_lists_what_exists(tmp_path):
    assert "scores" not in success_message(tmp_path, None)
    for name in ("source", "cbst/round1"):
        (tmp_path / "results" / name).mkdir(parents=True)
        (tmp_path / "results" / name / "miou.json").write_text(json.dumps(scores(1.0)))
    (tmp_path / "results/summary.csv").write_text("method\n")
    (tmp_path / "results/report").mkdir()
    message = success_message(tmp_path, ["/x/.snakemake/log/run.log"])
    assert "scores: 2 results/" in message and "results/summary.csv" in message
    assert "snakemake --report report.html" in message and "/x/.snakemake/log/run.log" in message


def test_report_figures_are_written_no_taller_than_the_viewer_shows(tmp_path):
    """Snakemake's viewer centres a PNG at its pixel size: a taller one hides its top (issue 22)."""
    cell = np.zeros((128, 256, 3), dtype=np.uint8)
    labels = ["image", "ground truth", *(f"method{i}" for i in range(12))]
    tall = image_grid([[cell] * 4 for _ in labels], labels, list("abcd"), "title", header_rows=2)
    save_figure(tall, tmp_path / "panels.png")
    with Image.open(tmp_path / "panels.png") as png:
        width, height = png.size
    assert height <= MAX_HEIGHT_PX and width <= MAX_WIDTH_PX
    small = image_grid([[cell]], ["row"], ["a"], "title")
    assert figure_dpi(small) == 120  # small figures keep the full resolution


def test_round_statistics_of_a_compact16_network_read_the_train_id_pseudo_labels():
    """thresholds.json names the 16 outputs; the pseudo-label PNGs hold train IDs (sky = 10, not 9)."""
    names = [TRAIN_CLASSES[i] for i in CLASSES_16]
    payload = {"target_portion": 0.2, "thresholds": dict.fromkeys(names, 0.5), "class_pixels": dict.fromkeys(names, 1)}
    pseudo = np.array([[10, 10, 9, IGNORE_INDEX]], dtype=np.uint8)  # sky twice; 9 (terrain) no output
    counts = LabelCounts()
    counts.update(pseudo, np.array([[10, 2, 9, 10]], dtype=np.uint8))
    table = round_statistics(1, payload, counts).set_index("class")
    assert len(table) == 17 and "terrain" not in table.index
    assert table.loc["sky", "labelled_share"] == 50.0 and table.loc["sky", "agreement"] == 50.0
