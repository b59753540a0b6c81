"""deploy/: Prometheus's config and alert rules pass promtool, and every query of the alerts and of the
Grafana dashboard names only metrics the service exports (a renamed metric breaks this test, not a
dashboard nobody looks at until the night it is needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from telemetry import exposition, metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool absent: apt-get install prometheus (CI does)")
METRIC_NAME = re.compile(r"\bstripe_epicor_[a-z0-9_]+")


def exported_names() -> set[str]:
    """Every sample name a scrape of /metrics can carry."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(value._name + "_total")
        elif isinstance(value, Histogram):
            names.update(value._name + suffix for suffix in ("_bucket", "_sum", "_count"))
        elif isinstance(value, Gauge):
            names.add(value._name)
    figures = {"queues": {"pipeline": 0}, "dead_letters": 0, "unfinished": 0, "oldest_progress": None}
    names.update(family.name for family in exposition.redis_families(figures))
    names.add("stripe_epicor_redis_up")
    return names


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "stripe-epicor.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@needs_promtool
def test_alert_rules_pass_promtool():
    done = subprocess.run([PROMTOOL, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_prometheus_config_passes_promtool():
    done = subprocess.run([PROMTOOL, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_queries_name_only_metrics_the_service_exports(source):
    expressions = alert_expressions() if source == "alerts" else dashboard_expressions()
    used = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    assert used, "no stripe_epicor_ metric in any query"
    assert used - exported_names() == set()


def test_every_alert_explains_itself():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 60, rule["alert"]


def test_the_dashboard_is_provisioned_from_the_files_compose_mounts():
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    grafana, prometheus = compose["services"]["grafana"], compose["services"]["prometheus"]
    assert "monitoring" in grafana["profiles"] and "monitoring" in prometheus["profiles"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "stripe-epicor.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{dashboards_path}:ro" in grafana["volumes"]
    for name in ("web", "worker"):  # one volume: one scrape sees both
        assert "metrics:/srv/.run/metrics" in compose["services"][name]["volumes"]
        assert "PROMETHEUS_MULTIPROC_DIR=/srv/.run/metrics" in compose["services"][name]["command"]


# -- integration pairs ----------------------------------------------------------------------------------
def paired_metrics() -> set[str]:
    """The sample names of every metric that carries the ``pair`` label."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram) and "pair" in value._labelnames:
            suffixes = ("_total",) if isinstance(value, Counter) else ("_bucket", "_sum", "_count") \
                if isinstance(value, Histogram) else ("",)
            names.update(value._name + suffix for suffix in suffixes)
    return names


def test_every_pipeline_metric_carries_the_pair():
    assert {"stripe_epicor_stage_duration_seconds_count", "stripe_epicor_stage_retries_total",
            "stripe_epicor_dead_lettered_total", "stripe_epicor_posted_amount_total",
            "stripe_epicor_api_requests_total", "stripe_epicor_api_request_duration_seconds_bucket",
            "stripe_epicor_event_duration_seconds_bucket", "stripe_epicor_events_finished_total"} <= paired_metrics()


def test_the_dashboard_narrows_every_paired_query_to_the_chosen_pair():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "stripe-epicor.json").read_text())
    assert [variable["name"] for variable in dashboard["templating"]["list"]] == ["pair"]
    assert dashboard["templating"]["list"][0]["includeAll"] is True
    paired = paired_metrics()
    for expr in dashboard_expressions():
        for selector in re.finditer(r"(stripe_epicor_[a-z0-9_]+)(\{[^}]*\})?", expr):
            if selector.group(1) in paired:
                assert 'pair=~"$pair"' in (selector.group(2) or ""), expr


ONE_PAIRS_EPICOR_DOWN = {  # emea's Epicor times out while the default pair's answers
    'stripe_epicor_api_requests_total{system="epicor",outcome="timeout",pair="emea"}': "0+5x20",
    'stripe_epicor_api_requests_total{system="epicor",outcome="2xx",pair="emea"}': "7x20",
    'stripe_epicor_api_requests_total{system="epicor",outcome="2xx",pair="default"}': "0+10x20",
    'stripe_epicor_dead_lettered_total{flow="order_to_cash",stage="post",reason="x",pair="emea"}': "0 1 1 1",
}


def expected_alert(name: str, at: str, **values: str) -> dict:
    """The alert ``name`` fired for pair emea, its annotations as alerts.yml writes them with ``values``."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    rule = next(rule for group in rules["groups"] for rule in group["rules"] if rule["alert"] == name)
    annotations = {key: text.replace("{{ $labels.pair }}", "emea") for key, text in rule["annotations"].items()}
    for template, value in values.items():
        annotations = {key: text.replace(template, value) for key, text in annotations.items()}
    return {"eval_time": at, "alertname": name,
            "exp_alerts": [{"exp_labels": {**rule["labels"], "pair": "emea"}, "exp_annotations": annotations}]}


@needs_promtool
def test_one_pairs_epicor_down_alerts_while_another_pairs_answers(tmp_path):
    tests = {"rule_files": [str(DEPLOY / "prometheus" / "alerts.yml")], "evaluation_interval": "1m",
             "tests": [{"interval": "1m",
                        "input_series": [{"series": series, "values": values}
                                         for series, values in ONE_PAIRS_EPICOR_DOWN.items()],
                        "alert_rule_test": [
                            expected_alert("StripeEpicorEpicorUnreachable", "15m"),
                            expected_alert("StripeEpicorDeadLettersGrowing", "3m",
                                           **{'{{ $value | printf "%.0f" }}': "1"})]}]}
    path = tmp_path / "pairs_test.yml"
    path.write_text(yaml.safe_dump(tests))
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
