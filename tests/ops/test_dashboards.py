"""The Grafana dashboards as code (deploy/grafana/), checked without a Grafana.

- the checked-in JSON is exactly what deploy/grafana/dashboards.py generates;
- every query reads only metrics that shared/metrics.py defines (as the series Prometheus stores:
  a counter as `_total`, a histogram as `_bucket`/`_sum`/`_count`) or recording rules of
  deploy/prometheus/rules/, so a renamed metric cannot leave a panel silently empty;
- each dashboard has a uid, a title and the `datasource` variable, every panel a title, a
  description and a unit, and reads the data source through that variable;
- the provisioning YAML and docker-compose.yml agree on where the dashboards and Prometheus are;
- with promtool on PATH (Debian's `prometheus` package), every expression parses as PromQL.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
GENERATOR = GRAFANA / "dashboards.py"
DASHBOARDS = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"
METRICS = ROOT / "shared" / "metrics.py"
RULES = ROOT / "deploy" / "prometheus" / "rules"
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"

DATASOURCE_UID = "${datasource}"
# Grafana's macros, replaced by a duration of the same kind before PromQL is parsed.
MACROS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1d"}
# The series each kind of prometheus_client collector exposes, from its (suffix-less) name.
SERIES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "enum": ("",),
}
KINDS = {
    "Counter": "counter", "CounterMetricFamily": "counter",
    "Gauge": "gauge", "GaugeMetricFamily": "gauge",
    "Histogram": "histogram", "HistogramMetricFamily": "histogram",
    "Summary": "summary", "SummaryMetricFamily": "summary",
    "Info": "info", "InfoMetricFamily": "info",
    "Enum": "enum", "StateSetMetricFamily": "enum",
}
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
RANGE = re.compile(r"\[[^\]]*\]")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


@cache
def generator() -> ModuleType:
    """deploy/grafana/dashboards.py, imported from its path (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("leadrelay_grafana_dashboards", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def checked_in() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data: rows' nested panels included, rows themselves not."""
    found = []
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def expressions() -> list[tuple[str, str, str]]:
    """(where, refId, PromQL) of every target of every dashboard."""
    return [
        (f"{name} panel {panel['id']} {panel.get('title')!r}", target.get("refId", ""), target["expr"])
        for name, board in checked_in().items() for panel in panels(board) for target in panel.get("targets", [])
    ]


@cache
def metric_series() -> frozenset[str]:
    """The series names shared/metrics.py exposes, read from its source (no registry is built)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(METRICS.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        name, func = node.args[0].value, node.func
        kind = KINDS.get(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
        if not (kind and isinstance(name, str)):
            continue
        base = name.removesuffix("_total") if kind == "counter" else name
        names.update(base + suffix for suffix in SERIES[kind])
    return frozenset(names)


@cache
def recording_rules() -> frozenset[str]:
    names = set()
    for path in sorted(RULES.glob("*.y*ml")) if RULES.is_dir() else []:
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
            names.update(rule["record"] for rule in group.get("rules", []) if "record" in rule)
    return frozenset(names)


def referenced_metrics(expr: str) -> set[str]:
    """The Leadrelay metrics and recording rules (`level:metric:operations`) an expression reads;
    label values and range or subquery durations (`[1h:5m]`) are not names."""
    bare = RANGE.sub("[]", STRING.sub('""', expr))
    return {name for name in IDENTIFIER.findall(bare) if "leadrelay" in name or ":" in name}


def unknown_metrics(expr: str) -> set[str]:
    return referenced_metrics(expr) - metric_series() - recording_rules()


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def mounts(service: str) -> list[tuple[Path | None, PurePosixPath]]:
    """(host path or None for a named volume, container path) of a compose service's volumes."""
    found = []
    for volume in compose()["services"][service].get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        host = (ROOT / source).resolve() if source.startswith((".", "/")) else None
        found.append((host, PurePosixPath(target)))
    return found


def container_path(service: str, host: Path) -> PurePosixPath | None:
    """Where a host file or folder appears inside a compose service, or None if not mounted."""
    host = host.resolve()
    for source, target in mounts(service):
        if source is not None and (host == source or source in host.parents):
            return target.joinpath(*host.relative_to(source).parts)
    return None


# --- generated == checked in ----------------------------------------------------------------------


def test_checked_in_dashboards_are_exactly_what_the_generator_writes() -> None:
    problems = generator().check()
    assert not problems, "".join(problems) + "\nrun: python deploy/grafana/dashboards.py"
    assert set(checked_in()) == set(generator().render())


def test_the_check_notices_a_hand_edit_and_a_stray_file(tmp_path: Path) -> None:
    for name, text in generator().render().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert generator().check(tmp_path) == []
    edited = next(iter(generator().render()))
    (tmp_path / edited).write_text((tmp_path / edited).read_text().replace('"title"', '"titel"', 1))
    (tmp_path / "by-hand.json").write_text("{}")
    problems = generator().check(tmp_path)
    assert len(problems) == 2 and "titel" in problems[0] and "by-hand.json" in problems[1]


def test_the_script_check_exits_zero_on_the_checked_in_tree() -> None:
    result = subprocess.run([sys.executable, str(GENERATOR), "--check"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- queries read real metrics --------------------------------------------------------------------


def test_metrics_are_read_from_shared_metrics_py() -> None:
    series = metric_series()
    assert {"leadrelay_leads_accepted_total", "leadrelay_intake_to_notified_seconds_bucket",
            "leadrelay_outbox_lag_seconds"} <= series
    assert "leadrelay_leads_accepted" not in series and "leadrelay_intake_to_notified_seconds" not in series


def test_every_query_reads_only_metrics_that_leadrelay_exports_or_records() -> None:
    assert expressions(), "no queries found"
    unknown = {f"{where} {ref}": sorted(unknown_metrics(expr)) for where, ref, expr in expressions()
               if unknown_metrics(expr)}
    assert not unknown, f"metrics not in shared/metrics.py nor deploy/prometheus/rules/: {unknown}"


def test_every_query_reads_a_leadrelay_metric_or_recording_rule() -> None:
    assert not [(where, ref) for where, ref, expr in expressions() if not referenced_metrics(expr)]


def test_the_name_check_catches_a_typo_a_missing_suffix_and_ignores_label_values() -> None:
    assert unknown_metrics("sum(rate(leadrelay_leads_acepted_total[5m]))") == {"leadrelay_leads_acepted_total"}
    assert unknown_metrics("rate(leadrelay_leads_accepted[5m])") == {"leadrelay_leads_accepted"}
    assert unknown_metrics("histogram_quantile(0.9, rate(leadrelay_handler_seconds[5m]))") == {
        "leadrelay_handler_seconds"}
    assert unknown_metrics('sum(leadrelay_events_processed_total{consumer="leadrelay_nothing"})') == set()
    assert unknown_metrics("sum by (le) (rate(leadrelay_handler_seconds_bucket[$__rate_interval]))") == set()
    assert unknown_metrics("max_over_time(leadrelay_outbox_backlog[1h:5m])") == set()
    assert unknown_metrics("slo:sli_error:ratio_rate7m / slo:error_budget:ratio") >= {"slo:sli_error:ratio_rate7m"}


def test_slo_objectives_match_the_recording_rules() -> None:
    recorded = {}
    for path in sorted(RULES.glob("*.y*ml")):
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
            for rule in group.get("rules", []):
                found = re.fullmatch(r"\s*vector\(([0-9.]+)\)\s*", str(rule.get("expr", "")))
                if rule.get("record") == "slo:objective:ratio" and found:
                    recorded[rule["labels"]["slo"]] = float(found.group(1))
    assert recorded, "no slo:objective:ratio rules in deploy/prometheus/rules/"
    assert generator().SLO_OBJECTIVES == recorded


# --- structure ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(generator().render()))
def test_dashboard_has_a_uid_a_title_and_the_datasource_variable(name: str) -> None:
    board = checked_in()[name]
    assert board.get("uid") and board.get("title") and board.get("description")
    variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
    assert variables.get("datasource", {}).get("type") == "datasource"
    assert variables["datasource"].get("query") == "prometheus"
    assert board.get("id") is None, "a provisioned dashboard must not carry an instance's numeric id"


@pytest.mark.parametrize("name", sorted(generator().render()))
def test_every_panel_is_titled_described_and_reads_the_datasource_variable(name: str) -> None:
    board = checked_in()[name]
    shown = panels(board)
    assert len(shown) >= 10
    ids = [panel["id"] for panel in board["panels"]]
    ids += [child["id"] for panel in board["panels"] if panel.get("type") == "row" for child in panel.get("panels", [])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in board["panels"]:
        assert panel.get("title"), f"untitled {panel.get('type')} panel {panel.get('id')}"
    for panel in shown:
        where = f"{name} panel {panel['id']} {panel.get('title')!r}"
        assert panel.get("title") and len(panel.get("description", "")) >= 20, f"{where}: title and description"
        assert panel.get("datasource") == {"type": "prometheus", "uid": DATASOURCE_UID}, where
        assert panel.get("fieldConfig", {}).get("defaults", {}).get("unit"), f"{where}: no unit"
        targets = panel.get("targets", [])
        assert targets, f"{where}: no query"
        assert all(t.get("datasource", {}).get("uid") == DATASOURCE_UID and t.get("expr") for t in targets), where
        refs = [t.get("refId") for t in targets]
        assert all(refs) and len(refs) == len(set(refs)), f"{where}: refIds {refs}"
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, f"{where}: {grid}"


def without_empty_custom(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_empty_custom(v) for k, v in value.items() if not (k == "custom" and v == {})}
    return [without_empty_custom(v) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize("name", sorted(generator().render()))
def test_dashboard_round_trips_through_grafanas_schema_types(name: str) -> None:
    """Decoding with the SDK's models (generated from Grafana's schemas) keeps every field: nothing
    is a key Grafana does not know, and each panel's options decode as its panel type's."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    raw = checked_in()[name]
    decoded = json.loads(JSONEncoder().encode(Dashboard.from_json(raw)))
    assert without_empty_custom(decoded) == raw


def test_dashboards_have_distinct_uids() -> None:
    uids = [board["uid"] for board in checked_in().values()]
    assert len(uids) == len(set(uids)) == 2


def test_units_fit_what_the_panels_show() -> None:
    units = {panel["title"]: panel["fieldConfig"]["defaults"]["unit"]
             for board in checked_in().values() for panel in panels(board)}
    assert units["Intake → notified latency"] == "s"
    assert units["Leads accepted by source"] == "reqps"
    assert units["HTTP error ratio by route"] == "percentunit"
    assert units["Time to first touch, median"] == "s"


# --- provisioning and docker-compose --------------------------------------------------------------


def provisioning(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    files = sorted((PROVISIONING / kind).glob("*.y*ml"))
    assert files, f"no {kind} provisioning files"
    return [(path, yaml.safe_load(path.read_text(encoding="utf-8"))) for path in files]


def test_compose_is_valid_yaml_with_grafana_and_prometheus() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana-oss")
    assert any(str(port).split(":")[-1] == "3000" for port in grafana["ports"])
    assert "prometheus" in services
    assert container_path("prometheus", PROMETHEUS_CONFIG) is not None, "prometheus.yml is not mounted"
    config_flag = [arg for arg in services["prometheus"].get("command", []) if arg.startswith("--config.file=")]
    assert config_flag == [f"--config.file={container_path('prometheus', PROMETHEUS_CONFIG)}"]


def test_prometheus_in_compose_has_the_recording_rules_the_dashboards_read() -> None:
    rules_dir = container_path("prometheus", RULES)
    assert rules_dir is not None, "deploy/prometheus/rules is not mounted into prometheus"
    config_dir = container_path("prometheus", PROMETHEUS_CONFIG).parent
    for pattern in yaml.safe_load(PROMETHEUS_CONFIG.read_text()).get("rule_files") or []:
        inside = config_dir / pattern  # relative rule_files resolve against the config's folder
        assert inside.parent == rules_dir, f"rule_files {pattern} is not the mounted {rules_dir}"


@pytest.mark.parametrize("kind", ["datasources", "dashboards"])
def test_provisioning_files_are_mounted_where_grafana_reads_them(kind: str) -> None:
    for path, _ in provisioning(kind):
        assert container_path("grafana", path) == PurePosixPath("/etc/grafana/provisioning", kind, path.name), path


def test_the_dashboard_provider_points_at_the_mounted_dashboards_folder() -> None:
    mounted = container_path("grafana", DASHBOARDS)
    assert mounted is not None, "deploy/grafana/dashboards is not mounted into grafana"
    providers = [p for _, document in provisioning("dashboards") for p in document["providers"]]
    assert [p["type"] for p in providers] == ["file"]
    assert PurePosixPath(providers[0]["options"]["path"]) == mounted
    home = compose()["services"]["grafana"].get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert PurePosixPath(home).parent == mounted and (DASHBOARDS / PurePosixPath(home).name).exists()


def test_the_datasource_is_the_compose_prometheus_at_its_scrape_interval() -> None:
    sources = [s for _, document in provisioning("datasources") for s in document["datasources"]]
    prometheus = [s for s in sources if s["type"] == "prometheus"]
    assert len(prometheus) == 1 and prometheus[0].get("isDefault") is True
    match = re.fullmatch(r"http://([a-z0-9_-]+):(\d+)/?", prometheus[0]["url"])
    assert match, prometheus[0]["url"]
    host, port = match.groups()
    assert host in compose()["services"], f"{host} is not a docker-compose service"
    assert port == "9090"
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["global"]["scrape_interval"]
    assert prometheus[0]["jsonData"]["timeInterval"] == scrape


# --- PromQL syntax --------------------------------------------------------------------------------


def test_every_expression_parses_as_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is not on PATH: .ci/run installs Debian's prometheus package"
    rules = []
    for index, (where, ref, expr) in enumerate(expressions()):
        for macro, value in MACROS.items():
            expr = expr.replace(macro, value)
        assert "$" not in expr, f"{where} {ref}: unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard_panel_query_{index}", "expr": expr, "labels": {"panel": where}})
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
