"""No API key anywhere a run leaves a trace, on the Kubernetes shape with Secret-backed keys.

Three runs in one namespace of the real API server, their Models' keys in Secrets: one
succeeds against a fake Messages API (its baseURL allowed by the namespace's
baton-model-policy), one is refused by the API (a wrong key, 401), one names a baseURL the
namespace does not allow. Afterwards each key is looked for in the runs' status, their
journal, the CloudEvents of the chain, the namespace's Kubernetes Events and every log record.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import traceback
from typing import Any

from events.apiserver import resource_event
from events.buses.inprocess import InProcessBus
from functions import chain
from functions.models.keys import POLICY_KEY, POLICY_SECRET
from functions.run.status import is_terminal
from functions.runtime.deps import build_deps
from tests.fakes.messages_api import FakeMessagesAPI, Reply
from tests.security.conftest import Tenants

GOOD_KEY = "sk-ant-good-k3y-never-to-be-seen"
WRONG_KEY = "sk-ant-wrong-k3y-never-to-be-seen"


def _resource(kind: str, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _secret(store: Any, namespace: str, name: str, data: dict[str, str]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
    store.api.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body=body)


def test_no_key_in_status_events_journal_or_logs(
    tenants: Tenants, all_logs: list[logging.LogRecord]
) -> None:
    """Succeeded, Failed (401) and Failed (baseURL refused): no key in any trace."""
    store, cluster = tenants.store, tenants.cluster
    namespace = f"{cluster.namespace}-keys"
    cluster.kubectl("create", "namespace", namespace)
    with FakeMessagesAPI(api_key=GOOD_KEY, default=Reply.text("42")) as api:
        _secret(store, namespace, "good", {"api-key": GOOD_KEY})
        _secret(store, namespace, "wrong", {"api-key": WRONG_KEY})
        _secret(store, namespace, POLICY_SECRET, {POLICY_KEY: api.url})
        base = {"provider": "anthropic", "model": "claude-sonnet-5-5", "maxTokens": 64}
        models = {
            "good": {**base, "apiKeySecretRef": {"name": "good"}, "baseURL": api.url},
            "wrong": {**base, "apiKeySecretRef": {"name": "wrong"}, "baseURL": api.url},
            "exfil": {
                **base,
                "apiKeySecretRef": {"name": "good"},
                "baseURL": "http://127.0.0.1:9/x",
            },
        }
        # The functions with the Kubernetes store and its Secret reader, on an in-process bus;
        # the test publishes each run's "added" event as the ApiServerSource would.
        deps = build_deps(store, secrets=store.read_secret)
        bus = InProcessBus(workers=2)
        for sub in chain.subscriptions(deps):
            bus.subscribe(sub)
        bus.on_dead_letter(chain.dead_letter_handler(deps, None))
        events: list[Any] = []
        bus.tap(events.append)
        try:
            for name, spec in models.items():
                store.create(_resource("Model", namespace, name, spec))
                store.create(_resource("Agent", namespace, name, {"modelRef": {"name": name}}))
                run = store.create(
                    _resource(
                        "AgentRun", namespace, name, {"agentRef": {"name": name}, "task": "6*7?"}
                    )
                )
                bus.publish(resource_event("ADDED", run))
            runs = {name: _finished(store, namespace, name) for name in models}
        finally:
            bus.close()
            recorder = getattr(deps.store, "recorder", None)
            if recorder is not None:  # the run Events still queued: kubectl below sees them all
                recorder.flush()
        assert runs["good"]["status"]["phase"] == "Succeeded"
        assert runs["wrong"]["status"]["phase"] == "Failed"
        assert runs["exfil"]["status"]["phase"] == "Failed"
        assert "baton-model-policy" in json.dumps(runs["exfil"]["status"])
        # Each key went to its own Model's API only: the good one and the wrong one, once each
        # run; the refused baseURL got nothing (it is a closed port: nothing could answer).
        presented = {
            r.headers.get("authorization", "").removeprefix("Bearer ") or r.headers.get("x-api-key")
            for r in api.requests
        }
        assert presented == {GOOD_KEY, WRONG_KEY}
    traces = [json.dumps(run) for run in runs.values()]
    traces += [json.dumps(e, default=str) for run in runs.values() for e in store.read_journal(run)]
    traces += [
        json.dumps({**e.get_attributes(), "data": e.get_data()}, default=str) for e in events
    ]
    traces.append(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
    for record in all_logs:
        traces.append(record.getMessage())
        if record.exc_info:
            traces.append("".join(traceback.format_exception(*record.exc_info)))
    text = "\n".join(traces)
    assert len(events) > 5 and len(all_logs) > 0
    for key in (GOOD_KEY, WRONG_KEY):
        assert key not in text
        assert base64.b64encode(key.encode()).decode() not in text


def _finished(store: Any, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run = store.get("AgentRun", namespace, name)
    while time.monotonic() < deadline and not is_terminal(run):
        time.sleep(0.1)
        run = store.get("AgentRun", namespace, name)
    assert is_terminal(run), run.get("status")
    return run
