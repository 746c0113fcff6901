"""What the Snakefile's ``onsuccess`` / ``onerror`` handlers print: where results and logs are.

Both look at what is on disk rather than printing a fixed text: how many results exist, whether the
summary and the report figures are there, and, after a failure, which jobs failed, with their log
files and the last lines of each (the exception), read from Snakemake's own log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

#: Lines of a failed job's log shown after an error (a Python traceback ends with its message).
TAIL_LINES = 6
#: What a training job logs when a stop signal made it checkpoint and exit: such a job did not fail.
STOPPED_BY_SIGNAL = "stopped by signal"
# Snakemake 9 writes, per failed job: "Error in rule <name>:" and, when the rule has one,
# "    log: <path> (check log file(s) for error details)".
_FAILED_RULE = re.compile(r"^Error in rule (?P<rule>\S+):\n(?P<body>(?:[ \t]+.*\n?)*)", re.MULTILINE)
_LOG_LINE = re.compile(r"^\s+log: (?P<paths>.+?) \(check log file", re.MULTILINE)


def _snakemake_logs(log: str | Sequence[str] | None) -> list[Path]:
    """Snakemake passes its log as a list of paths (one str in older versions)."""
    if not log:
        return []
    paths = [log] if isinstance(log, str) else list(log)
    return [Path(path) for path in paths]


def failed_jobs(snakemake_log_text: str) -> list[tuple[str, list[str]]]:
    """(rule, its job log files) for every "Error in rule" block of a Snakemake log."""
    failures = []
    for match in _FAILED_RULE.finditer(snakemake_log_text):
        logs = _LOG_LINE.search(match["body"])
        failures.append((match["rule"], logs["paths"].split(", ") if logs else []))
    return failures


def _tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    if not path.is_file():
        return [f"({path} was not written)"]
    return path.read_text(errors="replace").splitlines()[-lines:]


def error_message(root: str | Path, log: str | Sequence[str] | None) -> str:
    """Which jobs failed and how their logs end; a run whose every failed job was a training job stopped
    by a signal (Ctrl-C, ``timeout``, pre-emption) is called interrupted, since nothing needs fixing."""
    root = Path(root)
    lines = []
    stopped_jobs = failed = 0
    for snakemake_log in _snakemake_logs(log):
        text = snakemake_log.read_text(errors="replace") if snakemake_log.is_file() else ""
        for rule, job_logs in failed_jobs(text):
            failed += 1
            if not job_logs:
                lines.append(f"  rule {rule} failed (no log file; its error is printed above)")
            # A job log holds its latest attempt (earlier ones are in <log>.attempts): its tail tells how it ended.
            tails = {job_log: _tail(root / job_log) for job_log in job_logs}
            stopped = bool(tails) and all(any(STOPPED_BY_SIGNAL in line for line in tail) for tail in tails.values())
            stopped_jobs += stopped
            for job_log, tail in tails.items():
                lines.append(f"  rule {rule} {'was stopped' if stopped else 'failed'}; its log {job_log} ends with:")
                lines.extend(f"      {line}" for line in tail)
        lines.append(f"  Snakemake's own log: {snakemake_log}")
    if failed and stopped_jobs == failed:
        lines.insert(0, "udaflow was interrupted: the running training jobs checkpointed and stopped.")
        lines.append("  Run the same command again to resume (add --rerun-incomplete if Snakemake asks).")
    else:
        lines.insert(0, "udaflow stopped on an error.")
        lines.append(
            "  Every job's log is under logs/ (earlier attempts in <log>.attempts). Fix the cause and run the same "
            "command again: finished jobs are "
            "kept and training resumes from its last checkpoint (add --rerun-incomplete if Snakemake asks)."
        )
    return "\n".join(lines)


def success_message(root: str | Path, log: str | Sequence[str] | None) -> str:
    root = Path(root)
    scores = sorted((root / "results").glob("**/miou.json"))
    lines = ["udaflow finished."]
    if scores:
        lines.append(
            f"  scores: {len(scores)} results/<method>/[round<r>|stage<s>]/miou.json (+ per_class.csv, visuals/)"
        )
    if (root / "results/summary.csv").is_file():
        lines.append("  summary: results/summary.csv (one row per method and round/stage)")
    if (root / "results/report").is_dir():
        lines.append(
            "  report: figures in results/report/; render them with `snakemake --report report.html` (or report.zip)"
        )
    lines.append("  logs: logs/ (one per job, every attempt in <log>.attempts), benchmarks/ (time and memory per job)")
    lines.extend(f"  Snakemake's own log: {path}" for path in _snakemake_logs(log))
    return "\n".join(lines)


def config_error(error: BaseException) -> str:
    """One line per problem for a failed config validation: the key's dotted path and what is wrong.

    Snakemake's own message embeds the whole JSON sub-schema (dozens of lines) between the two
    facts a user needs; it raises while handling the ``jsonschema`` error, which is its context.
    """
    cause = error.__context__
    if not hasattr(cause, "absolute_path"):
        return str(error)
    key = ".".join(str(part) for part in cause.absolute_path) or "(top level)"
    return f"config key {key}: {cause.message} (checked against workflow/schemas/config.schema.yaml)"
