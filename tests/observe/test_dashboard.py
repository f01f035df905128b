"""The Grafana dashboard under config/ asks only for metrics baton exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from functions.observe.metrics import exposition

DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana" / "baton-dashboard.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def test_every_panel_queries_an_exposed_metric() -> None:
    """A renamed metric would leave a panel empty: each query names a family baton exposes."""
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = {f.name for f in text_string_to_metric_families(exposition().decode())}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    for expr in exprs:
        for name in re.findall(r"\b((?:baton|process)_[a-z_]+)", expr):
            family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
            assert family in exposed or name in exposed, f"{name} in {expr!r}"
    assert {p["gridPos"]["y"] for p in dashboard["panels"]} and dashboard["uid"] == "baton-overview"
