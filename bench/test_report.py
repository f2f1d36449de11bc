#!/usr/bin/env python3
"""Tests of bench/report.py's verdicts (standard library only: the report runs --no-plots).

    python3 -m unittest discover -s bench -p 'test_*.py'     (make unit runs it)
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.py")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


class ReportTest(unittest.TestCase):
    def run_report(self, files):
        with tempfile.TemporaryDirectory() as tmp:
            in_dir = os.path.join(tmp, "out")
            os.makedirs(in_dir)
            for name, content in files.items():
                path = os.path.join(in_dir, name)
                if isinstance(content, str):
                    with open(path, "w", encoding="utf-8") as fh:
                        fh.write(content)
                else:
                    write_jsonl(path, content)
            md = os.path.join(tmp, "BENCHMARKS.md")
            notes = os.path.join(tmp, "notes")
            os.makedirs(notes)
            proc = subprocess.run(
                [sys.executable, REPORT, "--in", in_dir, "--markdown", md, "--plots",
                 os.path.join(tmp, "plots"), "--notes", notes, "--no-plots"],
                capture_output=True, text=True, check=False)
            text = ""
            if os.path.exists(md):
                with open(md, encoding="utf-8") as fh:
                    text = fh.read()
            return proc, text

    def summary_row(self, text, starts):
        """The summary row whose first cell starts with `starts`, its status cell unbolded."""
        rows = [l for l in text.splitlines() if l.startswith("| " + starts)]
        self.assertTrue(rows, f"no summary row starting {starts!r} in:\n{text}")
        cells = rows[0].strip("|").split(" | ")
        return " | ".join(cells[:-1]) + " | " + cells[-1].strip().strip("*") + " |"

    def test_targets_pass_and_fail_by_the_design_thresholds(self):
        write = [
            {"bench": "write-rate", "side": "zen", "run": 1, "events": 100, "concurrency": 16, "seconds": 1, "rate": 70.0},
            {"bench": "write-rate", "side": "kube-rs", "run": 1, "events": 100, "concurrency": 16, "seconds": 1, "rate": 100.0},
        ]
        failover = [
            {"bench": "failover", "kind": "graceful", "run": 1, "seconds": 0.1},
            {"bench": "failover", "kind": "graceful", "run": 2, "seconds": 3.2},
            {"bench": "failover", "kind": "sigkill", "run": 1, "seconds": 15.0},
        ]
        memory = [
            {"bench": "memory", "phase": "idle", "rss_mib": 25.0, "peak_mib": 25.0},
            {"bench": "memory", "phase": "reports-default-filter", "rss_mib": 30.0, "peak_mib": 40.0,
             "reports": 2000, "vulnerabilities_per_report": 100},
            {"bench": "memory", "phase": "audit-event-list", "rss_mib": 30.0, "peak_mib": 80.0,
             "rss_before_mib": 16.0, "peak_growth_mib": 64.0, "body_mib": 16.0},
        ]
        proc, text = self.run_report({"write-rate.jsonl": write, "failover.jsonl": failover,
                                      "memory.jsonl": memory})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("| FAIL |", self.summary_row(text, "Observations written"))  # 0.7x < 0.8x
        self.assertIn("| FAIL |", self.summary_row(text, "Failover, graceful"))  # one run >= 3 s
        self.assertIn("| pass |", self.summary_row(text, "Failover, SIGKILL"))
        self.assertIn("| FAIL |", self.summary_row(text, "Memory, idle"))  # 25 >= 20 MiB
        self.assertIn("| pass |", self.summary_row(text, "Memory, peak RSS (reports-default-filter)"))
        self.assertIn("| FAIL |", self.summary_row(text, "Memory, peak RSS growth reading"))  # 4x, not < 4x
        memory[-1]["peak_growth_mib"] = 40.0
        _, text = self.run_report({"memory.jsonl": memory})
        audit = self.summary_row(text, "Memory, peak RSS growth reading")
        self.assertIn("| pass |", audit)
        self.assertIn("2.50× the body (40.0 MiB for 16.0 MiB)", audit)
        _, text = self.run_report({"memory.jsonl": memory[:1]})
        self.assertIn("not measured", self.summary_row(text, "Memory, peak RSS growth reading"))
        self.assertIn("not measured", self.summary_row(text, "Pipeline"))

    def test_ingest_ratio_is_per_run_and_sidekick_absence_is_not_measured(self):
        def row(side, run, rps, p99):
            return {"bench": "ingest-falco-dedup", "side": side, "concurrency": 16, "run": run,
                    "rps": rps, "p50_ms": 0.1, "p99_ms": p99, "status_codes": {"200": 10}, "errors": {}}
        both = [row("zen", 1, 200.0, 1.0), row("sidekick", 1, 100.0, 2.0),
                row("zen", 2, 300.0, 1.0), row("sidekick", 2, 100.0, 2.0)]
        proc, text = self.run_report({"ingest.jsonl": both})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("| pass |", self.summary_row(text, "Webhook ingest req/s"))  # 2x and 3x
        slow = [row("zen", 1, 120.0, 1.0), row("sidekick", 1, 100.0, 2.0)]
        _, text = self.run_report({"ingest.jsonl": slow})
        self.assertIn("| FAIL |", self.summary_row(text, "Webhook ingest req/s"))  # 1.2x < 1.5x
        alone = [row("zen", 1, 120.0, 1.0)]
        meta = json.dumps({"skipped": {"falcosidekick": "refused by the module proxy"}})
        _, text = self.run_report({"ingest.jsonl": alone, "meta.json": meta})
        ingest = self.summary_row(text, "Webhook ingest req/s")
        self.assertIn("not measured", ingest)
        self.assertIn("refused by the module proxy", ingest)

    def test_a_malformed_line_is_an_error_naming_file_and_line(self):
        proc, _ = self.run_report({"failover.jsonl": '{"bench": "failover", "kind": "graceful", "run": 1}\n{oops\n'})
        self.assertEqual(proc.returncode, 1)
        self.assertIn("failover.jsonl:2", proc.stderr)


if __name__ == "__main__":
    unittest.main()
