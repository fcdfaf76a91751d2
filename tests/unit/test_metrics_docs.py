"""The metrics, docs/operations.md, the Grafana dashboard and the compose profile agree."""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import yaml

from actors_api import metrics as api_metrics
from spawner import metrics as spawner_metrics

REPO = Path(__file__).resolve().parents[2]


def _defined(store) -> set:
    names = {api_metrics.MESSAGES_ACCEPTED._name, api_metrics.REQUEST_SECONDS._name}
    names |= {family.name for family in api_metrics.QueueCollector(store).collect()}
    names |= {metric._name for metric in vars(spawner_metrics._get()).values()}
    supervisor = SimpleNamespace(name="s1", store=store, slots=2, gpus=[])
    names |= {family.name for family in spawner_metrics.SpawnerCollector(supervisor).collect()}
    return names


def test_every_metric_is_documented_and_the_dashboard_uses_only_real_ones(store):
    defined = _defined(store)
    assert len(defined) == 12
    table = (REPO / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(actors_\w+)`", table, re.MULTILINE))
    documented = {re.sub(r"_total$", "", name) for name in documented}
    assert documented == defined
    dashboard = json.loads((REPO / "ops" / "grafana" / "actors-dashboard.json").read_text())
    used = {re.sub(r"_(bucket|count|sum|total)$", "", name)
            for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"actors_\w+", target["expr"])}
    assert used <= defined and len(used) >= len(defined) - 1  # slots = running + free


def test_the_monitoring_profile_scrapes_the_api_and_the_spawners():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    assert "python:actors_api.gunicorn_config" in services["api"]["command"]
    spawner = services["spawner"]["command"]
    port = spawner[spawner.index("--metrics-port") + 1]
    scrape = yaml.safe_load((REPO / "ops" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"]
               for t in c["targets"]}
    assert {"api:8000", f"spawner:{port}"} <= targets
