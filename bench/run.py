"""One entry point for every benchmark case: ``python -m bench [case ...] [--quick]`` (or ``python bench/run.py``).

Each case prints a table and writes ``bench/results/<case>_<cpu|gpu>[_quick].json`` with the machine
(CPU, cores, GPU, load average before and after), library versions and the git commit.

- ``thresholds``: class-balanced thresholds, streaming histograms vs sorting every confidence;
- ``evaluate``: our label-ID PNG scoring vs the official cityscapesScripts evaluator;
- ``predict`` / ``train_step``: DeepLab-v2 R101 through our engine vs a plain fp32 loop (GPU when present);
- ``demo``: the demo targets on 2 CPU cores from an empty directory, and a no-op re-run;
- ``realsize``: every method's chain with the real overlays at real resolution, 2 iterations per job
  (``--chains`` picks some; one JSON per chain).

``--quick`` is the CI-size mode (a few minutes in all, smaller inputs); without it the cases run at the
sizes the README reports. Timings are only as good as the machine is idle: the load average is recorded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the checkout importable as in `python -m bench`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, cpu_code_path, demo, evaluate, network, realsize, thresholds  # noqa: E402

CASES = ("thresholds", "evaluate", "predict", "train_step", "demo", "cpu_code_path", "realsize")


def run_case(
    name: str, quick: bool, out_dir: Path, threads: int | None = None, chains: list[str] | None = None,
    cores: int = realsize.CORES, keep_dir: Path | None = None,
) -> Path:
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    device = common.detect_device()
    tag = "cpu"
    if name == "thresholds":
        payload, rows = thresholds.run(quick)
        columns = thresholds.COLUMNS
    elif name == "evaluate":
        payload, rows = evaluate.run(quick)
        columns = evaluate.COLUMNS
    elif name in ("predict", "train_step"):
        if device.note:
            print(f"note: {device.note}")
        payload, rows = network.compare(name, quick, device, threads)
        columns = network.COLUMNS
        tag = device.tag
    elif name == "cpu_code_path":
        payload, rows = cpu_code_path.run(quick)
        columns = cpu_code_path.COLUMNS
    elif name == "realsize":  # one JSON per chain: realsize_<chain>_<tag>.json
        path = common.RESULTS
        for chain, payload, rows in realsize.run(quick, chains, device.kind == "cpu", cores, keep_dir):
            common.print_table(f"realsize {chain}: {payload['what']} (target: {payload['target']})",
                               rows, realsize.COLUMNS)
            path = common.write_result(f"realsize_{chain}", payload, quick, device.tag, load_at_start, out_dir)
            load_at_start = [round(v, 2) for v in os.getloadavg()]
        return path
    else:
        payload, rows = demo.run(quick)
        columns = demo.COLUMNS
    common.print_table(f"{name}: {payload['what']} (target: {payload['target']})", rows, columns)
    return common.write_result(name, payload, quick, tag, load_at_start, out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", choices=[*CASES, []], metavar="case",
                        help=f"one or more of {', '.join(CASES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="CI-size inputs: a few minutes in all")
    parser.add_argument("--out-dir", type=Path, default=common.RESULTS, help="where the JSON results go")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads of the predict/train_step cases (default: torch's, one per core); "
                        "1 on a machine that other jobs share, where spinning OpenMP threads stall")
    parser.add_argument("--chains", nargs="+", default=None, metavar="chain",
                        help=f"realsize: the method chains to run (default all: {', '.join(realsize.CHAINS)})")
    parser.add_argument("--cores", type=int, default=realsize.CORES,
                        help=f"realsize: Snakemake's --cores per chain (default {realsize.CORES}, the CI machine's)")
    parser.add_argument("--keep-dir", type=Path, default=None,
                        help="realsize: run each chain in KEEP_DIR/<chain> and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    for name in args.cases or CASES:
        started = time.monotonic()
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        run_case(name, args.quick, args.out_dir, args.threads, args.chains, args.cores, args.keep_dir)
        print(f"== {name} took {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
