#!/usr/bin/env python3
"""Benchmark report: turns benchmark result files into BENCHMARKS.md and PNG plots.

    bench/report.py --in bench/out --criterion "$CARGO_TARGET_DIR/criterion" \
        --markdown BENCHMARKS.md --plots docs/bench [--notes bench/notes]

Normally run through scripts/bench-report.sh (which provides the pinned matplotlib).

Inputs (all optional; a missing file or benchmark gives "not measured" with the reason from
meta.json's `skipped` or `notes` when one is recorded):
  <in>/ingest.jsonl       webhook ingest (oha): side zen | sidekick | zen-traced
  <in>/write-rate.jsonl   Observation create rate: side zen | kube-rs
  <in>/failover.jsonl     leader failover: kind graceful | sigkill
  <in>/memory.jsonl       RSS per phase: idle | audit-event-list | after-webhook-events |
                          reports-default-filter | reports-drop-all
  <in>/meta.json          date, command, git_commit, machine, versions, notes, skipped
  <criterion>/**/new/{benchmark,estimates}.json   Criterion results (pipeline micro-benchmarks)
  <notes>/<section>.md    human explanation per section (ingest, tracing, write-rate, failover,
                          memory, pipeline), included verbatim

In the .jsonl files a later line with the same key (ingest: side, concurrency, run; write-rate:
side, events, concurrency, run; failover: kind, run; memory: phase, run) replaces an earlier
one, so appending a new session's runs to an old file reports the new runs. Lines whose
`bench` names another benchmark are ignored.

Output is deterministic for the same input: no clock is read; the only date is meta's.
Exit status: 0 when the report was written (whatever the targets' statuses), 1 on an
unreadable or malformed input file (the message names the file and line), 2 on bad usage.
"""

import argparse
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field

# ---- targets (docs/architecture.md, "Performance targets") -------------------------------------------------------------------
INGEST_RPS_RATIO = 1.5  # zen req/s >= 1.5x falcosidekick's, per concurrency
WRITE_RATE_RATIO = 0.8  # zen create rate >= 0.8x a bare kube-rs client's
FAILOVER_TARGET_S = {"graceful": 3.0, "sigkill": 17.0}  # every run under it
IDLE_RSS_MIB = 20.0
REPORTS_PEAK_MIB = 64.0  # VmHWM while watching 2,000 VulnerabilityReports x 100
AUDIT_GROWTH_PER_BODY = 4.0  # peak RSS growth reading the largest audit EventList, per body byte
REPORTS_PHASES = ("reports-default-filter", "reports-drop-all")
PIPELINE_ID = "normalise+filter+dedup/tracing off"
PIPELINE_TRACED_ID = "normalise+filter+dedup/tracing on (always_on)"
PIPELINE_TARGET_NS = 2000.0

PASS, FAIL, NOT_MEASURED, INFO = "pass", "FAIL", "not measured", "informational"

SIDE_ORDER = ("zen", "sidekick", "zen-traced")
SIDE_LABEL = {
    "zen": "zen-watcher",
    "sidekick": "falcosidekick",
    "zen-traced": "zen-watcher (tracing on)",
    "kube-rs": "bare kube-rs client",
}
SIDE_COLOR = {
    "zen": "#1f77b4",
    "sidekick": "#ff7f0e",
    "zen-traced": "#2ca02c",
    "kube-rs": "#7f7f7f",
}
KIND_ORDER = ("graceful", "sigkill")
KIND_LABEL = {"graceful": "graceful (SIGTERM)", "sigkill": "SIGKILL"}
PHASE_ORDER = ("idle", "audit-event-list", "after-webhook-events", "reports-default-filter", "reports-drop-all")
AUDIT_PHASE = "audit-event-list"
MEMORY_CONTEXT = (
    ("events", "events"),
    ("distinct", "distinct"),
    ("reports", "reports"),
    ("vulnerabilities_per_report", "vulns/report"),
    ("observations_written", "Observations written"),
    ("seconds", "seconds"),
    ("retried_503_429", "503/429 retries"),
    ("body_mib", "body MiB"),
    ("peak_growth_mib", "peak growth MiB"),
)
PLOT_FILES = ("ingest-rps.png", "ingest-p99.png", "failover.png", "write-rate.png", "memory.png")
# oha -z cuts the requests in flight at the deadline: not failures.
OHA_DEADLINE_ERROR = "aborted due to deadline"


class InputError(Exception):
    """An unreadable or malformed input file; the message names the file (and line)."""


# ---- reading -------------------------------------------------------------------------------
# Field kinds: "str", "int", "num" (int or float; NaN/inf read as missing), "dict", "list".
INGEST_SPEC = {
    "side": ("str", True),
    "concurrency": ("int", True),
    "run": ("int", True),
    "seconds": ("num", False),
    "tool": ("str", False),
    "rps": ("num", False),
    "p50_ms": ("num", False),
    "p99_ms": ("num", False),
    "server_cpu_us_per_request": ("num", False),
    "success_rate": ("num", False),
    "status_codes": ("dict", False),
    "errors": ("dict", False),
}
WRITE_RATE_SPEC = {
    "side": ("str", True),
    "run": ("int", True),
    "events": ("int", False),
    "concurrency": ("int", False),
    "seconds": ("num", False),
    "rate": ("num", False),
}
FAILOVER_SPEC = {
    "kind": ("str", True),
    "run": ("int", True),
    "seconds": ("num", False),
    "old_leader": ("str", False),
    "new_leader": ("str", False),
}
MEMORY_SPEC = {
    "phase": ("str", True),
    "run": ("int", False),
    "rss_mib": ("num", False),
    "peak_mib": ("num", False),
    "steady_mib": ("num", False),
    **{key: ("num", False) for key, _ in MEMORY_CONTEXT},
}


def _check(row, spec, where):
    """Validates the fields in spec (others are kept as they are); returns a cleaned copy."""
    out = dict(row)
    for key, (kind, required) in spec.items():
        value = row.get(key)
        if value is None:
            if required:
                raise InputError(f"{where}: missing field {key!r}")
            out[key] = None
            continue
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if kind == "str" and isinstance(value, str):
            continue
        if kind == "int" and is_int:
            continue
        if kind == "num" and (is_int or isinstance(value, float)):
            out[key] = float(value) if math.isfinite(value) else None
            continue
        if kind == "dict" and isinstance(value, dict):
            continue
        if kind == "list" and isinstance(value, list):
            continue
        want = {"str": "a string", "int": "an integer", "num": "a number",
                "dict": "an object", "list": "a list"}[kind]
        raise InputError(f"{where}: field {key!r} must be {want}, got {json.dumps(value)}")
    return out


@dataclass
class Rows:
    """The rows of one .jsonl file, after validation and "a later line replaces"."""

    rows: list = field(default_factory=list)
    superseded: int = 0


def read_jsonl(path, bench, spec, key_fields):
    """Returns Rows, or None when the file does not exist."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    by_key = {}
    superseded = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from exc
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
        if row.get("bench") is not None and row.get("bench") != bench:
            continue
        row = _check(row, spec, where)
        key = tuple(row.get(k) for k in key_fields)
        if key in by_key:
            superseded += 1
            del by_key[key]  # re-insert: file order of the surviving lines
        by_key[key] = row
    return Rows(list(by_key.values()), superseded)


@dataclass
class Meta:
    date: str = ""
    command: str = "make bench"
    git_commit: str = ""
    machine: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    found: bool = False

    def reason(self, keys, default):
        """The recorded reason a benchmark was skipped (first of keys), else default."""
        for key in keys:
            if self.skipped.get(key):
                return self.skipped[key]
        return default

    def notes_about(self, *words):
        return [n for n in self.notes if any(w in n.lower() for w in words)]


def read_meta(path):
    if not os.path.exists(path):
        return Meta()
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")

    def get(key, kind, default):
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, kind):
            raise InputError(f"{path}: field {key!r} must be {kind.__name__}, got {json.dumps(value)}")
        return value

    notes = get("notes", list, [])
    if not all(isinstance(n, str) for n in notes):
        raise InputError(f"{path}: field 'notes' must be a list of strings")
    skipped = get("skipped", dict, {})
    if not all(isinstance(v, str) for v in skipped.values()):
        raise InputError(f"{path}: field 'skipped' must map benchmark names to reason strings")
    return Meta(
        date=str(get("date", str, "")),
        command=get("command", str, "") or "make bench",
        git_commit=get("git_commit", str, ""),
        machine=get("machine", dict, {}),
        versions=get("versions", dict, {}),
        notes=notes,
        skipped=skipped,
        found=True,
    )


@dataclass
class CriterionResult:
    full_id: str
    median_ns: float = None
    lower_ns: float = None
    upper_ns: float = None
    mean_ns: float = None
    problem: str = ""


def _load_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def _dig(data, path, keys):
    value = data
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise InputError(f"{path}: missing {'.'.join(keys)}")
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{path}: {'.'.join(keys)} must be a number")
    return float(value)


def read_criterion(root):
    """Every <root>/**/new/benchmark.json with its estimates.json, sorted by full id."""
    if not root or not os.path.isdir(root):
        return None
    results = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in filenames:
            continue
        bench_path = os.path.join(dirpath, "benchmark.json")
        bench = _load_json(bench_path)
        if not isinstance(bench, dict):
            raise InputError(f"{bench_path}: expected a JSON object")
        full_id = bench.get("full_id")
        if not isinstance(full_id, str) or not full_id:
            group, function = bench.get("group_id"), bench.get("function_id")
            if not isinstance(group, str):
                raise InputError(f"{bench_path}: no full_id or group_id")
            full_id = group if not function else f"{group}/{function}"
        if full_id in results:
            continue
        result = CriterionResult(full_id)
        est_path = os.path.join(dirpath, "estimates.json")
        if not os.path.exists(est_path):
            result.problem = "no estimates.json (incomplete run)"
        else:
            est = _load_json(est_path)
            result.median_ns = _dig(est, est_path, ("median", "point_estimate"))
            result.lower_ns = _dig(est, est_path, ("median", "confidence_interval", "lower_bound"))
            result.upper_ns = _dig(est, est_path, ("median", "confidence_interval", "upper_bound"))
            result.mean_ns = _dig(est, est_path, ("mean", "point_estimate"))
        results[full_id] = result
    return [results[k] for k in sorted(results)]


def read_notes(notes_dir, name):
    """The verbatim text of <notes_dir>/<name>.md, or None."""
    if not notes_dir:
        return None
    path = os.path.join(notes_dir, f"{name}.md")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().rstrip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


# ---- statistics and formatting -------------------------------------------------------------
@dataclass
class Stat:
    n: int
    median: float
    lo: float
    hi: float


def stat(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return Stat(len(values), statistics.median(values), min(values), max(values))


def num(value):
    """About three significant digits; thousands separated."""
    if value is None:
        return "n/a"
    mag = abs(value)
    if mag >= 1000:
        return f"{value:,.0f}"
    if mag >= 100:
        return f"{value:.0f}"
    if mag >= 10:
        return f"{value:.1f}"
    if mag >= 1:
        return f"{value:.2f}"
    if mag == 0:
        return "0"
    return f"{value:#.3g}"


def count(value):
    """A count: 2,000; a fractional value falls back to num()."""
    if value is None:
        return "n/a"
    if float(value).is_integer():
        return f"{int(value):,}"
    return num(value)


def plain(value):
    """A target's number as written: 3, 17, 1.5."""
    return f"{value:g}"


def ratio(value):
    return "n/a" if value is None else f"{value:.2f}×"


def rng(s, fmt=num, unit=""):
    """"median (min–max)" or the lone value; unit after each number."""
    if s is None:
        return "n/a"
    if s.n == 1 or s.lo == s.hi:
        return f"{fmt(s.median)}{unit}"
    return f"{fmt(s.median)}{unit} ({fmt(s.lo)}–{fmt(s.hi)}{unit})"


def duration_ns(ns):
    if ns is None:
        return "n/a"
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if ns >= scale:
            return f"{num(ns / scale)} {unit}"
    return f"{num(ns)} ns"


def status_cell(status):
    return "**FAIL**" if status == FAIL else status


def worst(statuses):
    """FAIL if any failed, else not measured if any was not, else pass (informational kept)."""
    if not statuses:
        return NOT_MEASURED
    if FAIL in statuses:
        return FAIL
    if NOT_MEASURED in statuses:
        return NOT_MEASURED
    if all(s == INFO for s in statuses):
        return INFO
    return PASS


def table(headers, rows):
    def cell(value):
        return str(value).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(cell(h) for h in headers) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out


def per_run_ratios(numer, denom, value_key, key_fields=("run",)):
    """Ratios numer/denom of value_key for rows with the same key (run)."""
    by_key = {tuple(r.get(k) for k in key_fields): r for r in denom}
    ratios = []
    for row in numer:
        other = by_key.get(tuple(row.get(k) for k in key_fields))
        if other is None:
            continue
        a, b = row.get(value_key), other.get(value_key)
        if a is not None and b:
            ratios.append(a / b)
    return ratios


def failed_requests(row):
    """Non-2xx answers plus errors other than oha's deadline cut."""
    bad = 0
    for code, n in (row.get("status_codes") or {}).items():
        if not str(code).startswith("2") and isinstance(n, (int, float)):
            bad += n
    for error, n in (row.get("errors") or {}).items():
        if error != OHA_DEADLINE_ERROR and isinstance(n, (int, float)):
            bad += n
    return int(bad)


def distinct(rows, key):
    return sorted({str(r[key]) for r in rows if r.get(key) is not None})


# ---- report model --------------------------------------------------------------------------
@dataclass
class Target:
    benchmark: str
    target: str
    measured: str
    status: str


@dataclass
class Section:
    name: str  # the notes file's name: bench/notes/<name>.md
    title: str
    lines: list = field(default_factory=list)
    targets: list = field(default_factory=list)

    @property
    def status(self):
        return worst([t.status for t in self.targets])


SECTION_NAMES = ("ingest", "tracing", "write-rate", "failover", "memory", "pipeline")


@dataclass
class Context:
    meta: Meta
    notes: dict  # section name -> explanation text (bench/notes/<name>.md)
    plots_dir: str
    plots_link: str  # the plots dir as the markdown links it
    plots: dict  # file name -> True when written
    want_plots: bool


def image(ctx, file_name, alt):
    if not ctx.plots.get(file_name):
        return []
    return [f"![{alt}]({ctx.plots_link}/{file_name})", ""]


def not_measured_lines(reason):
    return [f"Not measured: {reason}", ""]


# ---- ingest and tracing --------------------------------------------------------------------
def split_sides(rows):
    by_side = {}
    for row in rows:
        by_side.setdefault(row["side"], []).append(row)
    for side_rows in by_side.values():
        side_rows.sort(key=lambda r: (r["concurrency"], r["run"]))
    return by_side


def at(rows, conc):
    return [r for r in rows if r["concurrency"] == conc]


def sidekick_reason(meta):
    recorded = meta.reason(("falcosidekick", "sidekick", "ingest-sidekick"), "")
    if recorded:
        return recorded
    notes = meta.notes_about("sidekick")
    if notes:
        return " ".join(notes)
    return "no falcosidekick rows in ingest.jsonl"


def section_ingest(data, ctx):
    sec = Section("ingest", "Webhook ingest: Falco alert suppressed by dedup")
    rps_target = f"zen-watcher ≥ {INGEST_RPS_RATIO}× falcosidekick req/s (median of per-run ratios), per concurrency"
    p99_target = "zen-watcher p99 ≤ falcosidekick p99 (medians), per concurrency"
    bench_rps, bench_p99 = "Webhook ingest req/s", "Webhook ingest p99"
    by_side = split_sides(data.rows) if data else {}
    zen, sk = by_side.get("zen", []), by_side.get("sidekick", [])
    if not zen and not sk:
        reason = ctx.meta.reason(("ingest", "ingest-falco-dedup"),
                                 "no ingest.jsonl" if data is None else "no zen or sidekick rows in ingest.jsonl")
        sec.lines += not_measured_lines(reason)
        sec.targets += [Target(bench_rps, rps_target, reason, NOT_MEASURED),
                        Target(bench_p99, p99_target, reason, NOT_MEASURED)]
        return sec

    rows = zen + sk + by_side.get("zen-traced", [])
    tools = distinct(rows, "tool")
    secs = [plain(v) for v in sorted({r["seconds"] for r in rows if r.get("seconds")})]
    sec.lines += [
        "One Falco alert, posted once first (written as an Observation), then over and over: every "
        "request is a duplicate that dedup suppresses. zen-watcher (`/falco/webhook`) and falcosidekick "
        "(no outputs) get the same payload, headers and load generator, one right after the other "
        "in each run, the order alternating between runs. Ratios are taken per run, then summarised "
        "as median (min–max).",
        "",
        f"Load generator: {', '.join(tools) or 'not recorded'}; "
        f"{' / '.join(secs) + ' s' if secs else 'duration not recorded'} per run and side.",
        "",
    ]
    concs = sorted({r["concurrency"] for r in zen + sk})
    body = []
    for conc in concs:
        for side in [s for s in ("zen", "sidekick") if by_side.get(s)]:
            side_rows = at(by_side[side], conc)
            if not side_rows:
                body.append([conc, SIDE_LABEL[side], 0, "not measured", "", "", ""])
                continue
            body.append([
                conc, SIDE_LABEL[side], len(side_rows),
                rng(stat(r["rps"] for r in side_rows)),
                rng(stat(r["p50_ms"] for r in side_rows)),
                rng(stat(r["p99_ms"] for r in side_rows)),
                count(sum(failed_requests(r) for r in side_rows)),
            ])
    sec.lines += table(["concurrency", "side", "runs", "req/s median (min–max)", "p50 ms",
                        "p99 ms", "failed requests"], body)
    sec.lines += ["", "Failed requests: non-2xx answers and errors other than oha's "
                  f"\"{OHA_DEADLINE_ERROR}\" (requests in flight at the end of a run).", ""]

    rps_status, p99_status, rps_measured, p99_measured, cmp_rows = [], [], [], [], []
    for conc in concs:
        z, s = at(zen, conc), at(sk, conc)
        ratios = stat(per_run_ratios(z, s, "rps"))
        zp99, sp99 = stat(r["p99_ms"] for r in z), stat(r["p99_ms"] for r in s)
        if not s:
            rs = ps = NOT_MEASURED
        else:
            rs = NOT_MEASURED if ratios is None else (PASS if ratios.median >= INGEST_RPS_RATIO else FAIL)
            ps = NOT_MEASURED if zp99 is None or sp99 is None else (
                PASS if zp99.median <= sp99.median else FAIL)
        rps_status.append(rs)
        p99_status.append(ps)
        flag = {FAIL: " FAIL", NOT_MEASURED: " (not measured)"}
        rps_measured.append(f"c={conc}: {rng(ratios, ratio) if ratios else 'n/a'}{flag.get(rs, '')}")
        p99_measured.append(f"c={conc}: {num(zp99.median) if zp99 else 'n/a'} vs "
                            f"{num(sp99.median) if sp99 else 'n/a'} ms{flag.get(ps, '')}")
        cmp_rows.append([conc, ratios.n if ratios else 0, rng(ratios, ratio), status_cell(rs),
                         f"{num(zp99.median) if zp99 else 'n/a'} / {num(sp99.median) if sp99 else 'n/a'}",
                         status_cell(ps)])

    if not sk:
        reason = sidekick_reason(ctx.meta)
        medians = {c: stat(r["rps"] for r in at(zen, c)) for c in concs}
        zen_only = "; ".join(f"c={c}: {num(m.median) if m else 'n/a'} req/s" for c, m in medians.items())
        sec.lines += [f"falcosidekick not measured: {reason}. zen-watcher alone: {zen_only}; without "
                      "falcosidekick's runs there is no ratio, so the target is not measured.", ""]
        measured = f"zen-watcher only ({zen_only}); falcosidekick not measured: {reason}"
        sec.targets += [Target(bench_rps, rps_target, measured, NOT_MEASURED),
                        Target(bench_p99, p99_target, f"falcosidekick not measured: {reason}", NOT_MEASURED)]
    else:
        sec.lines += table(["concurrency", "paired runs", "zen/sidekick req/s per run, median (min–max)",
                            f"≥ {INGEST_RPS_RATIO}×", "p99 ms zen / sidekick (medians)", "p99 no worse"],
                           cmp_rows)
        sec.lines += [""]
        sec.targets += [Target(bench_rps, rps_target, "; ".join(rps_measured), worst(rps_status)),
                        Target(bench_p99, p99_target, "; ".join(p99_measured), worst(p99_status))]
    sec.lines += image(ctx, "ingest-rps.png", "Webhook ingest requests/s against concurrency")
    sec.lines += image(ctx, "ingest-p99.png", "Webhook ingest p99 latency against concurrency")
    if data and data.superseded:
        sec.lines += [f"({data.superseded} earlier line(s) of ingest.jsonl were replaced by later runs "
                      "with the same side, concurrency and run.)", ""]
    return sec


def section_tracing(data, ctx):
    sec = Section("tracing", "Tracing overhead (informational)")
    bench = "Tracing overhead (webhook ingest, every span exported)"
    target = "none (informational): zen-watcher traced vs untraced"
    by_side = split_sides(data.rows) if data else {}
    zen, traced = by_side.get("zen", []), by_side.get("zen-traced", [])
    if not zen or not traced:
        missing = "no ingest.jsonl" if data is None else (
            "no zen-traced rows in ingest.jsonl" if not traced else "no zen rows in ingest.jsonl")
        reason = ctx.meta.reason(("tracing", "zen-traced", "ingest-traced"), missing)
        sec.lines += not_measured_lines(reason)
        sec.targets.append(Target(bench, target, reason, NOT_MEASURED))
        return sec
    sec.lines += [
        "The same ingest load against zen-watcher with OpenTelemetry tracing on, exporting every "
        "span, and against zen-watcher with tracing off, one right after the other in each run. "
        "Ratios traced/untraced per run, median (min–max): below 1× for req/s and above 1× for p99 "
        "is the cost of tracing. The collector shares the machine's cores with both, so req/s and "
        "p99 include its work too; the server CPU columns are the watcher process's own CPU time "
        "(user + system, from /proc) per request.",
        "",
    ]
    rows, measured = [], []
    for conc in sorted({r["concurrency"] for r in zen + traced}):
        z, t = at(zen, conc), at(traced, conc)
        rps_ratio = stat(per_run_ratios(t, z, "rps"))
        p99_ratio = stat(per_run_ratios(t, z, "p99_ms"))
        rows.append([conc, f"{len(z)} / {len(t)}",
                     rng(stat(r["rps"] for r in z)), rng(stat(r["rps"] for r in t)), rng(rps_ratio, ratio),
                     rng(stat(r["p99_ms"] for r in z)), rng(stat(r["p99_ms"] for r in t)), rng(p99_ratio, ratio),
                     rng(stat(r.get("server_cpu_us_per_request") for r in z)),
                     rng(stat(r.get("server_cpu_us_per_request") for r in t))])
        if rps_ratio or p99_ratio:
            measured.append(f"c={conc}: req/s {rng(rps_ratio, ratio)}, p99 {rng(p99_ratio, ratio)}")
    sec.lines += table(["concurrency", "runs (off / on)", "req/s off", "req/s on", "req/s on/off",
                        "p99 ms off", "p99 ms on", "p99 on/off",
                        "server CPU µs/req off", "server CPU µs/req on"], rows)
    sec.lines += [""]
    if measured:
        sec.targets.append(Target(bench, target, "; ".join(measured), INFO))
    else:
        sec.targets.append(Target(bench, target, "no run with both sides measured", NOT_MEASURED))
    return sec


# ---- write rate ----------------------------------------------------------------------------
def write_rate_config(row):
    return (row.get("events"), row.get("concurrency"))


def config_label(config):
    events, conc = config
    parts = []
    if events is not None:
        parts.append(f"{events:,} events")
    if conc is not None:
        parts.append(f"concurrency {conc}")
    return ", ".join(parts) or "as run"


def section_write_rate(data, ctx):
    sec = Section("write-rate", "Observation write rate")
    bench = "Observations written per second"
    target = f"zen-watcher ≥ {WRITE_RATE_RATIO}× a bare kube-rs client's create rate (median of per-run ratios)"
    rows = data.rows if data else []
    zen = [r for r in rows if r["side"] == "zen"]
    kube = [r for r in rows if r["side"] == "kube-rs"]
    if not zen:
        reason = ctx.meta.reason(("write-rate",), "no write-rate.jsonl" if data is None else "no zen rows in write-rate.jsonl")
        sec.lines += not_measured_lines(reason)
        sec.targets.append(Target(bench, target, reason, NOT_MEASURED))
        return sec
    sec.lines += [
        "Observations created per second by zen-watcher, against a bare kube-rs client creating the "
        "same objects with the same concurrency against the same apiserver (the ceiling), one right "
        "after the other in each run. Ratio zen/kube-rs per run, median (min–max).",
        "",
    ]
    configs = sorted({write_rate_config(r) for r in zen + kube}, key=lambda c: (c[0] or 0, c[1] or 0))
    body, statuses, measured = [], [], []
    for config in configs:
        z = [r for r in zen if write_rate_config(r) == config]
        k = [r for r in kube if write_rate_config(r) == config]
        ratios = stat(per_run_ratios(z, k, "rate"))
        if ratios is None:
            st = NOT_MEASURED
        else:
            st = PASS if ratios.median >= WRITE_RATE_RATIO else FAIL
        statuses.append(st)
        for side, side_rows in (("zen", z), ("kube-rs", k)):
            body.append([config_label(config), SIDE_LABEL[side], len(side_rows),
                         rng(stat(r["rate"] for r in side_rows)) if side_rows else "not measured",
                         rng(stat(r["seconds"] for r in side_rows), unit=" s") if side_rows else ""])
        prefix = f"{config_label(config)}: " if len(configs) > 1 else ""
        measured.append(prefix + (f"{rng(ratios, ratio)} over {ratios.n} run(s)" if ratios else "n/a"))
        if ratios:
            body.append([config_label(config), "ratio zen/kube-rs", ratios.n, rng(ratios, ratio), status_cell(st)])
    sec.lines += table(["configuration", "side", "runs", "Observations/s median (min–max)", "seconds / status"], body)
    sec.lines += [""]
    if not kube:
        reason = ctx.meta.reason(("kube-rs", "write-rate-kube-rs"), "no kube-rs rows in write-rate.jsonl")
        sec.lines += [f"kube-rs ceiling not measured: {reason}", ""]
        sec.targets.append(Target(bench, target, f"zen-watcher only; kube-rs not measured: {reason}", NOT_MEASURED))
    else:
        sec.targets.append(Target(bench, target, "; ".join(measured), worst(statuses)))
    sec.lines += image(ctx, "write-rate.png", "Write rate: zen-watcher against a bare kube-rs client")
    return sec


# ---- failover ------------------------------------------------------------------------------
def kinds_of(rows):
    present = {r["kind"] for r in rows}
    return [k for k in KIND_ORDER if k in present] + sorted(present - set(KIND_ORDER))


def section_failover(data, ctx):
    sec = Section("failover", "Leader failover")
    rows = data.rows if data else []
    sec.lines += [
        "Time from the signal to the leader until the new leader's informers run, at the default "
        "Lease timings (15 s lease, 10 s renew deadline, 2 s retry). A target is met only when every "
        "run is under it.",
        "",
    ]
    body = []
    for kind in list(KIND_ORDER) + [k for k in kinds_of(rows) if k not in KIND_ORDER]:
        kind_rows = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["run"])
        limit = FAILOVER_TARGET_S.get(kind)
        label = KIND_LABEL.get(kind, kind)
        target = f"every run < {plain(limit)} s" if limit else "none"
        s = stat(r["seconds"] for r in kind_rows)
        if s is None:
            if kind not in KIND_ORDER:
                continue
            reason = ctx.meta.reason((f"failover-{kind}", "failover"),
                                     "no failover.jsonl" if data is None else f"no {kind} runs in failover.jsonl")
            body.append([label, 0, "", "", "", f"not measured: {reason}", target, NOT_MEASURED])
            sec.targets.append(Target(f"Failover, {label}", target, reason, NOT_MEASURED))
            continue
        if limit is None:
            st = INFO
        else:
            st = PASS if s.n == len(kind_rows) and all(r["seconds"] < limit for r in kind_rows) else FAIL
        body.append([label, len(kind_rows), num(s.median), num(s.lo), num(s.hi),
                     ", ".join(num(r["seconds"]) for r in kind_rows), target, status_cell(st)])
        if limit is not None:
            over = sum(1 for r in kind_rows if r["seconds"] is not None and r["seconds"] >= limit)
            missing = len(kind_rows) - s.n
            measured = f"median {rng(s, unit=' s')}, {len(kind_rows)} run(s)"
            if over:
                measured += f", {over} at or over the target"
            if missing:
                measured += f", {missing} without a time"
            sec.targets.append(Target(f"Failover, {label}", target, measured, st))
    if not rows:
        reason = ctx.meta.reason(("failover",), "no failover.jsonl" if data is None else "no rows in failover.jsonl")
        sec.lines = not_measured_lines(reason)
        return sec
    sec.lines += table(["kind", "runs", "median s", "min s", "max s", "each run (s)", "target", "status"], body)
    sec.lines += [""]
    for kind in kinds_of(rows):
        moves = [f"{r['old_leader'] or '?'} → {r['new_leader'] or '?'}"
                 for r in sorted(rows, key=lambda r: r["run"])
                 if r["kind"] == kind and (r.get("old_leader") or r.get("new_leader"))]
        if moves:
            sec.lines += [f"Leadership moved ({KIND_LABEL.get(kind, kind)}, run by run): {', '.join(moves)}.", ""]
    sec.lines += image(ctx, "failover.png", "Failover time per run")
    return sec


# ---- memory --------------------------------------------------------------------------------
def phases_of(rows):
    present = {r["phase"] for r in rows}
    return [p for p in PHASE_ORDER if p in present] + sorted(present - set(PHASE_ORDER))


def memory_context(rows, keys=("reports", "vulnerabilities_per_report")):
    """"2,000 reports, 100 vulns/report"-style text from the context fields present."""
    parts = []
    for key, label in MEMORY_CONTEXT:
        if key not in keys:
            continue
        values = sorted({r[key] for r in rows if r.get(key) is not None})
        if values:
            parts.append(f"{'/'.join(count(v) for v in values)} {label}")
    return ", ".join(parts)


AUDIT_TARGET_NAME = "Memory, peak RSS growth reading a 16 MiB audit EventList"


def audit_target_text():
    return f"< {plain(AUDIT_GROWTH_PER_BODY)}× the body size"


def section_memory(data, ctx):
    sec = Section("memory", "Memory")
    rows = data.rows if data else []
    if not rows:
        reason = ctx.meta.reason(("memory",), "no memory.jsonl" if data is None else "no rows in memory.jsonl")
        sec.lines += not_measured_lines(reason)
        sec.targets.append(Target("Memory, idle RSS", f"< {plain(IDLE_RSS_MIB)} MiB", reason, NOT_MEASURED))
        for phase in REPORTS_PHASES:
            sec.targets.append(Target(f"Memory, peak RSS ({phase})", f"< {plain(REPORTS_PEAK_MIB)} MiB", reason, NOT_MEASURED))
        sec.targets.append(Target(AUDIT_TARGET_NAME, audit_target_text(), reason, NOT_MEASURED))
        return sec
    sec.lines += [
        "RSS of the zen-watcher process at the end of each phase (current), and its peak over the "
        "process's life (VmHWM). Targets: idle RSS, and peak RSS while watching 2,000 "
        "VulnerabilityReports of 100 vulnerabilities each (with the default filter and with a filter "
        "that drops everything); and for the largest audit EventList the watcher accepts (16 MiB), "
        "how far its peak RSS rose above its RSS just before the POST, per byte of body. With "
        "several runs the worst run decides.",
        "",
    ]
    context_cols = [(k, label) for k, label in MEMORY_CONTEXT if any(r.get(k) is not None for r in rows)]
    has_steady = any(r.get("steady_mib") is not None for r in rows)
    headers = ["phase", "runs", "RSS MiB", "peak RSS MiB"] + (["steady MiB"] if has_steady else [])
    headers += [label for _, label in context_cols] + ["target", "status"]
    body = []
    for phase in phases_of(rows):
        phase_rows = [r for r in rows if r["phase"] == phase]
        rss, peak = stat(r["rss_mib"] for r in phase_rows), stat(r["peak_mib"] for r in phase_rows)
        target_text, st = "none (informational)", INFO
        if phase == "idle":
            target_text = f"RSS < {plain(IDLE_RSS_MIB)} MiB"
            st = NOT_MEASURED if rss is None else (PASS if rss.hi < IDLE_RSS_MIB else FAIL)
            measured = "n/a" if rss is None else f"{rng(rss, unit=' MiB')}"
            sec.targets.append(Target("Memory, idle RSS", f"< {plain(IDLE_RSS_MIB)} MiB", measured, st))
        elif phase in REPORTS_PHASES:
            target_text = f"peak < {plain(REPORTS_PEAK_MIB)} MiB"
            st = NOT_MEASURED if peak is None else (PASS if peak.hi < REPORTS_PEAK_MIB else FAIL)
            measured = "n/a" if peak is None else f"{rng(peak, unit=' MiB')}"
            context = memory_context(phase_rows)
            if context and peak is not None:
                measured += f" at {context}"
                small = [r for r in phase_rows
                         if (r.get("reports") is not None and r["reports"] < 2000)
                         or (r.get("vulnerabilities_per_report") is not None and r["vulnerabilities_per_report"] < 100)]
                if small:
                    measured += " (fewer than the target's 2,000 × 100)"
            sec.targets.append(Target(f"Memory, peak RSS ({phase})",
                                      f"< {plain(REPORTS_PEAK_MIB)} MiB while watching 2,000 reports × 100 vulnerabilities",
                                      measured, st))
        elif phase == AUDIT_PHASE:
            ratio = stat(r.get("peak_growth_mib") / r["body_mib"] for r in phase_rows
                         if r.get("peak_growth_mib") is not None and r.get("body_mib"))
            target_text = f"peak growth {audit_target_text()}"
            st = NOT_MEASURED if ratio is None else (PASS if ratio.hi < AUDIT_GROWTH_PER_BODY else FAIL)
            measured = "n/a" if ratio is None else f"{rng(ratio, unit='×')} the body"
            growth = stat(r.get("peak_growth_mib") for r in phase_rows)
            body_mib = stat(r.get("body_mib") for r in phase_rows)
            if growth is not None and body_mib is not None:
                measured += f" ({rng(growth, unit=' MiB')} for {rng(body_mib, unit=' MiB')})"
            sec.targets.append(Target(AUDIT_TARGET_NAME, audit_target_text(), measured, st))
        row = [phase, len(phase_rows), rng(rss), rng(peak)]
        if has_steady:
            steady = stat(r.get("steady_mib") for r in phase_rows)
            row.append(rng(steady) if steady else "")
        for key, _ in context_cols:
            values = sorted({r[key] for r in phase_rows if r.get(key) is not None})
            row.append("/".join(count(v) for v in values))
        row += [target_text, status_cell(st)]
        body.append(row)
    present = {r["phase"] for r in rows}
    for phase in ("idle",) + REPORTS_PHASES + (AUDIT_PHASE,):
        if phase in present:
            continue
        reason = ctx.meta.reason((f"memory-{phase}", "memory"), f"no {phase} row in memory.jsonl")
        if phase == AUDIT_PHASE:
            sec.targets.append(Target(AUDIT_TARGET_NAME, audit_target_text(), reason, NOT_MEASURED))
        elif phase == "idle":
            sec.targets.insert(0, Target("Memory, idle RSS", f"< {plain(IDLE_RSS_MIB)} MiB", reason, NOT_MEASURED))
        else:
            sec.targets.append(Target(f"Memory, peak RSS ({phase})", f"< {plain(REPORTS_PEAK_MIB)} MiB", reason, NOT_MEASURED))
    sec.lines += table(headers, body)
    sec.lines += [""]
    sec.lines += image(ctx, "memory.png", "Memory per phase")
    return sec


# ---- pipeline (Criterion) ------------------------------------------------------------------
def section_pipeline(results, ctx):
    sec = Section("pipeline", "Pipeline micro-benchmarks (Criterion)")
    bench = "Pipeline: normalise + filter + dedup, tracing off, full 10k cache"
    target = f"< {plain(PIPELINE_TARGET_NS / 1000)} µs per event (median)"
    if not results:
        reason = ctx.meta.reason(("pipeline", "criterion"), "no Criterion results (`cargo bench -p zen-watcher-core --bench admission -p zen-watcher --bench tracing`)")
        sec.lines += not_measured_lines(reason)
        sec.targets.append(Target(bench, target, reason, NOT_MEASURED))
        return sec
    sec.lines += [
        "`cargo bench -p zen-watcher-core --bench admission -p zen-watcher --bench tracing`: time per iteration, Criterion's median with its 95% "
        "confidence interval, and the mean. The dedup cache holds 10k other fingerprints.",
        "",
    ]
    body = []
    by_id = {r.full_id: r for r in results}
    for r in results:
        if r.problem:
            body.append([r.full_id, r.problem, "", "", ""])
            continue
        st, tgt = "", ""
        if r.full_id == PIPELINE_ID:
            tgt = target
            st = status_cell(PASS if r.median_ns < PIPELINE_TARGET_NS else FAIL)
        body.append([r.full_id, duration_ns(r.median_ns),
                     f"{duration_ns(r.lower_ns)} – {duration_ns(r.upper_ns)}", duration_ns(r.mean_ns), tgt + (f": {st}" if st else "")])
    sec.lines += table(["benchmark", "median", "95% CI of the median", "mean", "target"], body)
    sec.lines += [""]
    off, on = by_id.get(PIPELINE_ID), by_id.get(PIPELINE_TRACED_ID)
    if off and on and off.median_ns and on.median_ns:
        sec.lines += [f"Tracing on (always_on, spans exported in memory) costs {duration_ns(on.median_ns - off.median_ns)} "
                      f"per event over tracing off ({ratio(on.median_ns / off.median_ns)}).", ""]
    result = by_id.get(PIPELINE_ID)
    if result is None or result.problem:
        reason = ctx.meta.reason(("pipeline",), f"no Criterion result for \"{PIPELINE_ID}\"" if result is None else result.problem)
        sec.targets.append(Target(bench, target, reason, NOT_MEASURED))
    else:
        st = PASS if result.median_ns < PIPELINE_TARGET_NS else FAIL
        sec.targets.append(Target(bench, target, f"{duration_ns(result.median_ns)} (95% CI "
                                  f"{duration_ns(result.lower_ns)} – {duration_ns(result.upper_ns)})", st))
    return sec


# ---- plots ---------------------------------------------------------------------------------
FIGSIZE, DPI = (9, 5.5), 100  # 900 x 550 px


def pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit("report.py: matplotlib is not installed: run scripts/bench-report.sh, "
                         "which installs bench/requirements.txt into a venv") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 13, "axes.grid": True, "grid.alpha": 0.3,
                         "savefig.dpi": DPI})
    return plt


def save(plt, fig, ctx, name):
    fig.savefig(os.path.join(ctx.plots_dir, name), dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    ctx.plots[name] = True


def errbar(s):
    return [[s.median - s.lo], [s.hi - s.median]]


def tick_format(plt, ax, log=False):
    """Plain tick labels (50,000; 0.5), on a log axis at 1-2-5 steps."""
    from matplotlib import ticker
    if log:
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:,.6g}"))


def plot_ingest(plt, data, ctx, key, name, ylabel, title):
    by_side = split_sides(data.rows)
    sides = [s for s in SIDE_ORDER if by_side.get(s)]
    concs = sorted({r["concurrency"] for s in sides for r in by_side[s]})
    if not sides or not concs:
        return
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    plotted, all_values, runs = False, [], set()
    for i, side in enumerate(sides):
        offset = (i - (len(sides) - 1) / 2) * 0.06
        xs, meds, lows, highs = [], [], [], []
        for x, conc in enumerate(concs):
            s = stat(r[key] for r in at(by_side[side], conc))
            if s is None:
                continue
            xs.append(x + offset)
            meds.append(s.median)
            lows.append(s.median - s.lo)
            highs.append(s.hi - s.median)
            all_values += [s.lo, s.hi]
            runs.add(s.n)
        if xs:
            plotted = True
            ax.errorbar(xs, meds, yerr=[lows, highs], marker="o", capsize=5, linewidth=2,
                        color=SIDE_COLOR[side], label=SIDE_LABEL[side])
    if not plotted:
        plt.close(fig)
        return
    ax.set_xticks(range(len(concs)), [str(c) for c in concs])
    ax.set_xlim(-0.5, len(concs) - 0.5)
    ax.set_xlabel("concurrency (client connections)")
    ax.set_ylabel(ylabel)
    positive = [v for v in all_values if v > 0]
    log = bool(positive) and max(positive) / min(positive) > 30
    if log:
        ax.set_yscale("log")
        ax.set_ylabel(ylabel + ", log scale")
    else:
        ax.set_ylim(bottom=0, top=max(all_values) * 1.15 if max(all_values) > 0 else 1)
    tick_format(plt, ax, log)
    n = "/".join(str(v) for v in sorted(runs))
    ax.set_title(f"{title}\nmedian of {n} run(s) per point, bars: min–max")
    ax.legend(loc="best")
    save(plt, fig, ctx, name)


def plot_failover(plt, data, ctx):
    kinds = [k for k in kinds_of(data.rows)
             if any(r["seconds"] is not None for r in data.rows if r["kind"] == k)]
    if not kinds:
        return
    fig, axes = plt.subplots(1, len(kinds), figsize=FIGSIZE, layout="constrained", squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        rows = sorted((r for r in data.rows if r["kind"] == kind and r["seconds"] is not None),
                      key=lambda r: r["run"])
        limit = FAILOVER_TARGET_S.get(kind)
        xs, ys = [r["run"] for r in rows], [r["seconds"] for r in rows]
        colors = ["#2ca02c" if limit is None or y < limit else "#d62728" for y in ys]
        ax.scatter(xs, ys, c=colors, s=60, zorder=3, label="run (green: under target, red: not)")
        top = max(ys + ([limit] if limit else []))
        if limit is not None:
            ax.axhline(limit, color="#d62728", linestyle="--", linewidth=1.5, label=f"target < {plain(limit)} s")
        ax.set_ylim(0, top * 1.2 if top > 0 else 1)
        ax.set_xticks(xs)
        ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
        ax.set_xlabel("run")
        ax.set_ylabel("seconds (signal → new leader's informers running)")
        ax.set_title(KIND_LABEL.get(kind, kind))
        ax.legend(loc="best", fontsize=9)
    fig.suptitle("Leader failover time per run (default 15/10/2 s Lease timings)", fontsize=13)
    save(plt, fig, ctx, "failover.png")


def plot_write_rate(plt, data, ctx):
    rows = [r for r in data.rows if r["side"] in ("zen", "kube-rs") and r["rate"] is not None]
    if not rows:
        return
    configs = sorted({write_rate_config(r) for r in rows}, key=lambda c: (c[0] or 0, c[1] or 0))
    sides = [s for s in ("zen", "kube-rs") if any(r["side"] == s for r in rows)]
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    width = min(0.8 / len(sides), 0.3)
    tops = []
    for j, side in enumerate(sides):
        for i, config in enumerate(configs):
            s = stat(r["rate"] for r in rows if r["side"] == side and write_rate_config(r) == config)
            if s is None:
                continue
            x = i + (j - (len(sides) - 1) / 2) * width
            ax.bar(x, s.median, width * 0.9, yerr=errbar(s) if s.n > 1 else None, capsize=6, color=SIDE_COLOR[side],
                   label=SIDE_LABEL[side] if i == 0 else None)
            ax.annotate(num(s.median), (x, s.hi), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize=10)
            tops.append(s.hi)
            if side == "zen":
                k = stat(r["rate"] for r in rows if r["side"] == "kube-rs" and write_rate_config(r) == config)
                if k is not None:
                    level = WRITE_RATE_RATIO * k.median
                    ax.hlines(level, x - width * 0.5, x + width * 0.5, colors="#d62728", linestyles="--",
                              linewidth=2, label=f"target: {WRITE_RATE_RATIO}× kube-rs median" if i == 0 else None)
    ax.set_xticks(range(len(configs)), [config_label(c) for c in configs])
    ax.set_xlim(-0.6, len(configs) - 0.4)
    ax.set_ylim(0, max(tops) * 1.3 if max(tops) > 0 else 1)
    tick_format(plt, ax)
    ax.set_ylabel("Observations created per second")
    ax.set_title("Write rate: zen-watcher vs a bare kube-rs client\nmedian, bars: min–max over runs")
    ax.legend(loc="upper center", ncols=3, fontsize=10)
    save(plt, fig, ctx, "write-rate.png")


def plot_memory(plt, data, ctx):
    rows = data.rows
    phases = phases_of(rows)
    series = [(k, label) for k, label in (("rss_mib", "RSS at end of phase"), ("peak_mib", "peak RSS (VmHWM)"),
                                          ("steady_mib", "steady RSS"))
              if any(r.get(k) is not None for r in rows)]
    if not phases or not series:
        return
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    width = 0.8 / len(series)
    colors = {"rss_mib": "#1f77b4", "peak_mib": "#9467bd", "steady_mib": "#17becf"}
    tops, labelled = [], set()
    for i, phase in enumerate(phases):
        phase_rows = [r for r in rows if r["phase"] == phase]
        present = [(key, label, stat(r.get(key) for r in phase_rows)) for key, label in series]
        present = [p for p in present if p[2] is not None]
        for j, (key, label, s) in enumerate(present):
            x = i + (j - (len(present) - 1) / 2) * width
            ax.bar(x, s.median, width * 0.9, yerr=errbar(s) if s.n > 1 else None, capsize=5,
                   color=colors[key], label=label if label not in labelled else None)
            labelled.add(label)
            ax.annotate(num(s.median), (x, s.hi), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=9)
            tops.append(s.hi)
    for i, phase in enumerate(phases):
        if phase == "idle":
            level, text = IDLE_RSS_MIB, f"target: idle RSS < {plain(IDLE_RSS_MIB)} MiB"
        elif phase in REPORTS_PHASES:
            level, text = REPORTS_PEAK_MIB, f"target: peak RSS < {plain(REPORTS_PEAK_MIB)} MiB"
        else:
            continue
        color = "#d62728" if phase == "idle" else "#8c564b"
        ax.hlines(level, i - 0.45, i + 0.45, colors=color, linestyles="--", linewidth=2,
                  label=text if text not in labelled else None)
        labelled.add(text)
        tops.append(level)
    ax.set_xticks(range(len(phases)), [p.replace("-", "\n", 1) if len(p) > 12 else p for p in phases])
    ax.set_ylim(0, max(tops) * 1.2 if tops and max(tops) > 0 else 1)
    tick_format(plt, ax)
    ax.set_ylabel("MiB")
    ax.set_title("zen-watcher memory per phase")
    ax.legend(loc="upper left", fontsize=9)
    save(plt, fig, ctx, "memory.png")


def make_plots(ctx, ingest, write_rate, failover, memory):
    """Writes the plots whose data exists and removes stale ones (only PLOT_FILES)."""
    os.makedirs(ctx.plots_dir, exist_ok=True)
    for name in PLOT_FILES:
        path = os.path.join(ctx.plots_dir, name)
        if os.path.exists(path):
            os.remove(path)
    # The same conditions as the sections' "measured" (a plot is linked only when made).
    have = {
        "ingest": ingest is not None and any(r["side"] in ("zen", "sidekick") for r in ingest.rows),
        "write-rate": write_rate is not None and any(r["side"] == "zen" and r["rate"] is not None
                                                     for r in write_rate.rows),
        "failover": failover is not None and any(r["seconds"] is not None for r in failover.rows),
        "memory": memory is not None and bool(memory.rows),
    }
    if not any(have.values()):
        return
    plt = pyplot()
    if have["ingest"]:
        plot_ingest(plt, ingest, ctx, "rps", "ingest-rps.png", "requests/s (median)",
                    "Webhook ingest: Falco alert suppressed by dedup, requests/s")
        plot_ingest(plt, ingest, ctx, "p99_ms", "ingest-p99.png", "p99 latency (ms, median)",
                    "Webhook ingest: Falco alert suppressed by dedup, p99 latency")
    if have["write-rate"]:
        plot_write_rate(plt, write_rate, ctx)
    if have["failover"]:
        plot_failover(plt, failover, ctx)
    if have["memory"]:
        plot_memory(plt, memory, ctx)


# ---- markdown ------------------------------------------------------------------------------
def markdown(ctx, sections):
    meta = ctx.meta
    out = [
        "<!-- Generated by `make bench` (scripts/bench-report.sh, bench/report.py): do not edit. "
        "Explanations go in bench/notes/<section>.md. -->",
        "# zen-watcher benchmarks",
        "",
        "Measured against the performance targets of docs/architecture.md. Status: pass, FAIL, or not measured "
        "(with the reason). Ratios against another program are taken per run, between runs made one "
        "right after the other on the same machine, and summarised as median (min–max).",
        "",
        "## How to reproduce",
        "",
        "```sh",
        meta.command,
        "```",
        "",
        "The report alone, from the results already in `bench/out/` and Criterion's output: "
        "`scripts/bench-report.sh`.",
        "",
    ]
    when = []
    if meta.date:
        when.append(f"Measured {meta.date}")
    if meta.git_commit:
        when.append(f"at commit `{meta.git_commit}`")
    if when:
        out += [" ".join(when) + ".", ""]
    elif not meta.found:
        out += ["No meta.json: date, commit and machine not recorded.", ""]

    out += ["## Summary", ""]
    targets = [t for s in sections for t in s.targets]
    out += table(["benchmark", "target", "measured", "status"],
                 [[t.benchmark, t.target, t.measured, status_cell(t.status)] for t in targets])
    counts = {w: sum(1 for t in targets if t.status == w) for w in (PASS, FAIL, NOT_MEASURED)}
    out += ["", f"{counts[PASS]} pass, {counts[FAIL]} FAIL, {counts[NOT_MEASURED]} not measured.", ""]

    out += ["## Machine and versions", ""]
    machine_keys = ["cpu", "cores", "memory_gib", "kernel", "os"]
    machine_keys += sorted(k for k in meta.machine if k not in machine_keys)
    labels = {"cpu": "CPU", "cores": "cores", "memory_gib": "memory (GiB)", "kernel": "kernel", "os": "OS"}
    machine_rows = [[labels.get(k, k), meta.machine[k]] for k in machine_keys if meta.machine.get(k) not in (None, "")]
    if machine_rows:
        out += table(["machine", ""], machine_rows) + [""]
    else:
        out += ["Machine not recorded.", ""]
    if meta.versions:
        out += table(["component", "version"], [[k, meta.versions[k]] for k in sorted(meta.versions)]) + [""]
    else:
        out += ["Versions not recorded.", ""]

    if meta.notes or meta.skipped:
        out += ["## Notes", ""]
        out += [f"- {n}" for n in meta.notes]
        out += [f"- Skipped {k}: {meta.skipped[k]}" for k in sorted(meta.skipped)]
        out += [""]

    for sec in sections:
        out += [f"## {sec.title}", ""]
        out += sec.lines
        note = ctx.notes.get(sec.name)
        if note:
            out += [note, ""]
        else:
            out += [f"<!-- Explanation slot: bench/notes/{sec.name}.md is included here verbatim when it exists. -->", ""]
            if sec.status == FAIL:
                out += [f"_This section misses its target and has no explanation yet (bench/notes/{sec.name}.md)._", ""]
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


# ---- main ----------------------------------------------------------------------------------
def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="Turn benchmark results into BENCHMARKS.md and PNG plots.")
    p.add_argument("--in", dest="in_dir", required=True, metavar="DIR",
                   help="directory of ingest.jsonl, write-rate.jsonl, failover.jsonl, memory.jsonl, meta.json")
    p.add_argument("--criterion", metavar="DIR", default="",
                   help="Criterion's output directory ($CARGO_TARGET_DIR/criterion)")
    p.add_argument("--markdown", metavar="FILE", required=True, help="markdown file to write (overwritten)")
    p.add_argument("--plots", metavar="DIR", required=True, help="directory for the PNG plots")
    p.add_argument("--notes", metavar="DIR", default=os.path.join(here, "notes"),
                   help="directory of per-section explanations <section>.md (default: bench/notes)")
    p.add_argument("--no-plots", action="store_true",
                   help="write only the markdown (no matplotlib needed); plots are not linked")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    in_dir = args.in_dir
    try:
        meta = read_meta(os.path.join(in_dir, "meta.json"))
        ingest = read_jsonl(os.path.join(in_dir, "ingest.jsonl"), "ingest-falco-dedup", INGEST_SPEC,
                            ("side", "concurrency", "run"))
        write_rate = read_jsonl(os.path.join(in_dir, "write-rate.jsonl"), "write-rate", WRITE_RATE_SPEC,
                                ("side", "events", "concurrency", "run"))
        failover = read_jsonl(os.path.join(in_dir, "failover.jsonl"), "failover", FAILOVER_SPEC, ("kind", "run"))
        memory = read_jsonl(os.path.join(in_dir, "memory.jsonl"), "memory", MEMORY_SPEC, ("phase", "run"))
        criterion = read_criterion(args.criterion)
        notes = {name: read_notes(args.notes, name) for name in SECTION_NAMES}

        md_path = os.path.abspath(args.markdown)
        plots_dir = os.path.abspath(args.plots)
        link = os.path.relpath(plots_dir, os.path.dirname(md_path)).replace(os.sep, "/")
        ctx = Context(meta, notes, plots_dir, link, {}, not args.no_plots)
        if ctx.want_plots:
            make_plots(ctx, ingest, write_rate, failover, memory)

        sections = [
            section_ingest(ingest, ctx),
            section_tracing(ingest, ctx),
            section_write_rate(write_rate, ctx),
            section_failover(failover, ctx),
            section_memory(memory, ctx),
            section_pipeline(criterion, ctx),
        ]
        text = markdown(ctx, sections)
    except InputError as exc:
        print(f"report.py: error: {exc}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(md_path) or ".", exist_ok=True)
    with open(md_path, "w", encoding="utf-8") as fh:
        fh.write(text)
    targets = [t for s in sections for t in s.targets]
    print(f"report.py: wrote {args.markdown} and {len(ctx.plots)} plot(s) in {args.plots}: "
          + ", ".join(f"{sum(1 for t in targets if t.status == w)} {w}" for w in (PASS, FAIL, NOT_MEASURED)),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
