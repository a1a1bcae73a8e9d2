"""The SLO recording rules and the alerts in deploy/prometheus/rules/, checked with promtool.

- ``promtool check rules`` accepts both files and ``promtool check config`` the Prometheus
  configuration that loads them;
- ``promtool test rules`` passes deploy/prometheus/tests/*.yml: each alert fires on a series
  that should fire it and stays quiet on one that should not, and the recording rules compute
  the values written there;
- every alert has a severity, a summary, a description and a runbook in docs/operations.md, and
  is tested both firing and quiet;
- the rules read only metrics, labels and histogram buckets that shared/metrics.py exports, so
  an SLO threshold that is not a bucket bound (or a renamed metric) fails here, not in production.

promtool missing is a failure, never a skip: CI (.ci/run) installs Debian's ``prometheus``
package, which brings it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from leadrelay.shared.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
OPERATIONS = ROOT / "docs" / "operations.md"
SEVERITIES = {"critical", "warning"}
# Labels Prometheus adds to every scraped series, whatever the exporter wrote.
TARGET_LABELS = {"job", "instance"}
SELECTOR = re.compile(r"\b(leadrelay_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"([^\"]*)\"")
METRIC = re.compile(r"\bleadrelay_[a-z0-9_]+\b(?!:)")
RECORDED = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]+")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not on PATH. CI installs it with Debian's `prometheus` package (.ci/run); "
                    "here: apt-get install -y --no-install-recommends prometheus")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=300, cwd=PROMETHEUS)


def rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
            for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def unit_tests() -> list[dict[str, Any]]:
    return [test for path in TEST_FILES for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]]


@cache
def exported() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Series name -> (label names, `le` values for a histogram's buckets) of every metric a
    fresh ``Metrics`` exports, as Prometheus stores them (a counter as ``_total``, a histogram as
    ``_bucket``/``_count``/``_sum``)."""
    series: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for collector in vars(Metrics()).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labelnames = tuple(collector._labelnames)
        if labelnames:  # one child, so that a labelled histogram exports its buckets
            collector.labels(*("x" for _ in labelnames))
        for family in collector.collect():
            les = frozenset(s.labels["le"] for s in family.samples if s.name.endswith("_bucket"))
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}.get(family.type, ("",))
            for suffix in suffixes:
                extra = {"le"} if suffix == "_bucket" else set()
                series[family.name + suffix] = (frozenset(labelnames) | extra, les)
    return series


def test_promtool_accepts_the_rule_files():
    assert RULE_FILES, "no rule files in deploy/prometheus/rules/"
    result = run_promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_prometheus_config_loads_every_rule_file():
    result = run_promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULE_FILES:
        assert f"Checking {path.relative_to(PROMETHEUS)}" in result.stdout, result.stdout


def test_promtool_unit_tests_pass():
    assert TEST_FILES, "no promtool tests in deploy/prometheus/tests/"
    result = run_promtool("test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def test_every_alert_is_tested_firing_and_quiet():
    cases = [case for test in unit_tests() for case in test.get("alert_rule_test", [])]
    for name in sorted({rule["alert"] for rule in alerts()}):
        firing = [case for case in cases if case["alertname"] == name and case.get("exp_alerts")]
        quiet = [case for case in cases if case["alertname"] == name and not case.get("exp_alerts")]
        assert firing, f"{name}: no promtool test where it fires"
        assert quiet, f"{name}: no promtool test where it stays quiet"
        severities = {alert["exp_labels"].get("severity") for case in firing for alert in case["exp_alerts"]}
        declared = {rule["labels"]["severity"] for rule in alerts() if rule["alert"] == name}
        assert severities == declared, f"{name}: severities {declared} declared, {severities} tested firing"


def test_every_recording_rule_is_tested_or_read_by_another_rule():
    tested = {name for test in unit_tests() for case in test.get("promql_expr_test", [])
              for name in RECORDED.findall(case["expr"])}
    for record in sorted({rule["record"] for rule in rules() if "record" in rule}):
        read = {name for rule in rules() if rule.get("record") != record for name in RECORDED.findall(rule["expr"])}
        assert record in tested | read, f"{record}: neither tested nor read by another rule"


def test_every_alert_has_severity_summary_description_and_a_runbook():
    anchors = {heading_anchor(line) for line in headings(OPERATIONS.read_text(encoding="utf-8"))}
    for rule in alerts():
        name = rule["alert"]
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), name
        path, _, anchor = annotations.get("runbook_url", "").partition("#")
        assert path == "docs/operations.md" and anchor == name.lower(), f"{name}: runbook_url {path}#{anchor}"
        assert anchor in anchors, f"{name}: docs/operations.md has no heading for #{anchor}"


def headings(markdown: str) -> list[str]:
    """The heading lines, outside fenced code blocks (where ``#`` starts a shell comment)."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            found.append(line)
    return found


def heading_anchor(line: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = line.lstrip("#").strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def test_every_slo_is_written_down():
    text = OPERATIONS.read_text(encoding="utf-8")
    for rule in rules():
        if rule.get("record") == "slo:objective:ratio":
            assert f"`{rule['labels']['slo']}`" in text, f"SLO {rule['labels']['slo']} missing from docs/operations.md"


def test_the_rules_read_only_metrics_labels_and_buckets_we_export():
    series = exported()
    for rule in rules():
        where = rule.get("alert") or rule.get("record")
        expr = rule["expr"]
        for name in METRIC.findall(expr):
            assert name in series, f"{where}: {name} is not exported by shared/metrics.py"
        for name, matchers in SELECTOR.findall(expr):
            labels, les = series[name]
            for label, value in MATCHER.findall(matchers):
                assert label in labels | TARGET_LABELS, f"{where}: {name} has no label {label!r}"
                if label == "le":
                    assert value in les, f"{where}: {name} has no bucket le={value!r} (buckets: {sorted(les)})"
        if ":" in re.sub(r"\[[^\]]*\]", "", expr):
            continue  # reads recorded series too, whose labels its own rule checks
        metrics_read = [series[name][0] for name in METRIC.findall(expr)]
        for grouping in GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert any(label in labels for labels in metrics_read) or label in TARGET_LABELS | {"slo"}, \
                    f"{where}: groups by {label!r}, which no metric it reads has"


def test_the_slo_thresholds_are_bucket_bounds():
    """The 5 s and 1 s the SLOs promise are what the rules read, and buckets of their histograms."""
    text = " ".join(rule["expr"] for rule in rules())
    assert 'leadrelay_intake_to_notified_seconds_bucket{le="5.0"}' in text
    assert 'leadrelay_intake_to_assigned_seconds_bucket{le="1.0"}' in text
    assert "5.0" in exported()["leadrelay_intake_to_notified_seconds_bucket"][1]
    assert "1.0" in exported()["leadrelay_intake_to_assigned_seconds_bucket"][1]
