"""Runs every benchmark in bench/ with modest sizes, one after another, and writes
bench/results/summary.md: one markdown table per benchmark from its bench/results/<name>.json.

`--full` runs each script with its own (large) defaults instead; `--only a,b` picks scripts.
A script that fails is reported in the summary and the run continues; the exit status is 1 then.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
HELPERS = {"bench_support.py", "run_all.py"}
# Sizes that keep `make bench` to minutes on a 2-core machine; scripts not named here get no options.
MODEST_ARGUMENTS: dict[str, list[str]] = {
    "fleet_meter_ingest": ["--assets", "1000", "--days", "30"],
    "fleet_usage": ["--assets", "5000", "--calls", "5", "--rounds", "1"],
    "invoicing_run": ["--assets", "2000", "--customers", "100"],
    "load": ["--rate", "20", "--duration", "30", "--assets", "200"],
    "maintenance_ingest": ["--events", "20000", "--assets", "500"],
    "placement": ["--set", "all", "--only", "p1,p2,p3,cap41,cap71", "--time-limit", "10", "--workers", "1"],
    "replacement": ["--seeds", "1", "--time-limit", "5", "--workers", "1"],
    "scheduling_solomon": ["--time-limit", "5", "--only", "C101,R101,RC101"],
}
SCRIPT_TIMEOUT_SECONDS = 1800


def benchmark_scripts() -> list[Path]:
    return sorted(path for path in BENCH.glob("*.py") if path.name not in HELPERS)


def tables_of(data: Any) -> list[tuple[str, list[dict]]]:
    """The row lists in a result file: the file itself when it is a list of objects, or each of its
    keys holding a list of objects (a lone object, such as a summary, is a one-row table)."""
    if isinstance(data, list):
        return [("", [row for row in data if isinstance(row, dict)])]
    if not isinstance(data, dict):
        return []
    if all(not isinstance(value, (list, dict)) for value in data.values()):
        return [("", [data])]
    tables = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, [value]))
        elif isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            tables.append((key, value))
    return tables


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(column, "")) for column in columns) + " |" for row in rows]
    return lines


def summary_markdown(runs: list[dict]) -> str:
    lines = ["# Benchmark summary", "",
             "Measured with `make bench` (modest sizes unless run with --full). Figures from a shared machine "
             "are indicative only.", "", "| benchmark | exit | seconds | arguments |", "|---|---|---|---|"]
    lines += [f"| {run['name']} | {run['exit']} | {run['seconds']:.1f} | `{' '.join(run['arguments'])}` |" for run in runs]
    for run in runs:
        lines += ["", f"## {run['name']}", ""]
        result_file = RESULTS / f"{run['name']}.json"
        if not result_file.exists():
            lines.append(f"No {result_file.relative_to(BENCH.parent)} (exit status {run['exit']}).")
            continue
        for title, rows in tables_of(json.loads(result_file.read_text())):
            if title:
                lines += [f"### {title}", ""]
            lines += markdown_table(rows) + [""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="each script's own default sizes")
    parser.add_argument("--only", default="", help="comma-separated script names, e.g. placement,replacement")
    args = parser.parse_args()
    wanted = {name for name in args.only.split(",") if name}
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = []
    for script in benchmark_scripts():
        if wanted and script.stem not in wanted:
            continue
        arguments = [] if args.full else MODEST_ARGUMENTS.get(script.stem, [])
        (RESULTS / f"{script.stem}.json").unlink(missing_ok=True)  # a stale file must not pass for this run
        print(f"\n=== {script.name} {' '.join(arguments)}", flush=True)
        started = time.monotonic()
        try:
            status = subprocess.run([sys.executable, str(script), *arguments], cwd=BENCH.parent,
                                    timeout=SCRIPT_TIMEOUT_SECONDS).returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
        runs.append({"name": script.stem, "exit": status, "seconds": time.monotonic() - started, "arguments": arguments})
    summary = RESULTS / "summary.md"
    summary.write_text(summary_markdown(runs))
    print(f"\nwrote {summary}")
    return 0 if all(run["exit"] == 0 for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
