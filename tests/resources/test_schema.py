"""CRD-driven validation and defaulting: what a kube-apiserver would accept or refuse."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.ports import API_VERSION, Invalid
from functions.resources.openapi import compile_schema
from functions.resources.schema import (
    crd_dir,
    kind_for,
    known_kinds,
    plural_of,
    resource_name,
    validate_and_default,
)

CRD_DIR = Path(__file__).resolve().parents[2] / "config" / "crd"
CRD_FILES = sorted(CRD_DIR.glob("*.yaml"))
# Short names of built-in kinds and well-known add-ons a baton short name must not shadow.
TAKEN_SHORT_NAMES = {"po", "svc", "deploy", "ds", "sts", "cm", "ns", "ep", "ing", "pv", "pvc"}
TAKEN_SHORT_NAMES |= {"sa", "rs", "rc", "hpa", "pdb", "crd", "netpol", "ksvc", "kservice", "mcp"}


def crds() -> list[dict[str, Any]]:
    """Every CRD document in config/crd."""
    return [yaml.safe_load(path.read_text()) for path in CRD_FILES]


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node below ``node`` with its path."""
    found = [(path, node)]
    for key, sub in (node.get("properties") or {}).items():
        found += walk(sub, f"{path}.{key}")
    if "items" in node:
        found += walk(node["items"], f"{path}[]")
    return found


def resource(kind: str, spec: dict[str, Any], name: str = "demo", **extra: Any) -> dict[str, Any]:
    """A resource of ``kind`` with ``spec``."""
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
        **extra,
    }


def run(**spec: Any) -> dict[str, Any]:
    """An AgentRun with a valid agentRef plus ``spec``."""
    return resource("AgentRun", {"agentRef": {"name": "helper"}, **spec})


def refused(
    obj: dict[str, Any], subresource: str | None = None, stored: dict[str, Any] | None = None
) -> Invalid:
    """The Invalid raised for ``obj`` (the test fails when it is accepted)."""
    with pytest.raises(Invalid) as caught:
        validate_and_default(obj, subresource=subresource, stored=stored)
    return caught.value


# -- the CRDs themselves ----------------------------------------------------


def test_there_is_one_crd_file_per_kind() -> None:
    """config/crd holds baton.dev_<plural>.yaml for the five kinds."""
    assert [p.name for p in CRD_FILES] == [
        "baton.dev_agentruns.yaml",
        "baton.dev_agents.yaml",
        "baton.dev_agenttriggers.yaml",
        "baton.dev_mcpservers.yaml",
        "baton.dev_models.yaml",
    ]
    assert known_kinds() == ["Agent", "AgentRun", "AgentTrigger", "MCPServer", "Model"]


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_crd_has_the_shape_kube_1_20_installs(path: Path) -> None:
    """apiextensions v1, namespaced, v1alpha1 served+storage, status subresource, structural."""
    crd = yaml.safe_load(path.read_text())
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.baton.dev"
    assert path.name == f"baton.dev_{spec['names']['plural']}.yaml"
    assert spec["group"] == "baton.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["categories"] == ["baton"]
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert any(c["name"] == "Age" for c in version["additionalPrinterColumns"])
    schema = version["schema"]["openAPIV3Schema"]
    compile_schema(schema)  # raises when a node has no type (not structural)
    assert "x-kubernetes-validations" not in path.read_text()  # CEL came after 1.20


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_every_field_is_described_and_defaults_are_valid(path: Path) -> None:
    """Defaults satisfy their own field's schema (the API server refuses the CRD otherwise)."""
    schema = yaml.safe_load(path.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for where, node in walk(schema):
        if "default" in node:
            errors: list[Any] = []
            compile_schema(node)(copy.deepcopy(node["default"]), where, errors)
            assert errors == [], where
    for where, node in walk(schema["properties"]["spec"], "spec"):
        if where.count(".") == 1 and not where.endswith("[]"):
            assert node.get("description"), f"{path.name}: {where} has no description"


def test_short_names_do_not_clash() -> None:
    """Short names are unique among baton's kinds and avoid well-known ones."""
    short = [s for crd in crds() for s in crd["spec"]["names"].get("shortNames", [])]
    assert len(short) == len(set(short))
    assert not set(short) & TAKEN_SHORT_NAMES
    assert {"ar", "arun", "bmodel"} <= set(short)


def test_agentrun_printer_columns() -> None:
    """kubectl get agentruns shows phase, agent, step, tokens and age."""
    [crd] = [c for c in crds() if c["spec"]["names"]["kind"] == "AgentRun"]
    columns = {
        c["name"]: c["jsonPath"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns == {
        "Phase": ".status.phase",
        "Agent": ".spec.agentRef.name",
        "Step": ".status.step",
        "Tokens": ".status.tokenUsage.total",
        "Age": ".metadata.creationTimestamp",
    }


def test_names_map_between_kind_plural_and_short_names() -> None:
    """kind_for resolves plurals and short names; plural_of and resource_name go back."""
    assert kind_for("ar") == "AgentRun"
    assert kind_for("agentruns.baton.dev") == "AgentRun"
    assert kind_for("MCPServer") == "MCPServer"
    assert plural_of("MCPServer") == "mcpservers"
    assert resource_name("Model") == "models.baton.dev"
    with pytest.raises(Invalid):
        kind_for("pods")


def test_crd_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BATON_CRD_DIR points the validator at another folder of CRDs."""
    shutil.copy(CRD_DIR / "baton.dev_models.yaml", tmp_path)
    monkeypatch.setenv("BATON_CRD_DIR", str(tmp_path))
    assert crd_dir() == tmp_path
    assert known_kinds() == ["Model"]
    assert refused(run()).field == "kind"


# -- defaulting ---------------------------------------------------------------


def test_agent_defaults_fill_limits_and_subagents() -> None:
    """An Agent with only a modelRef gets the documented limits."""
    spec = validate_and_default(resource("Agent", {"modelRef": {"name": "m"}}))["spec"]
    assert spec["limits"] == {"maxTurns": 10, "timeout": "10m"}
    assert spec["subagents"] == {"maxDepth": 2, "maxConcurrent": 4, "maxChildrenPerAgent": 8}
    assert spec["runHistoryLimit"] == 50


def test_defaults_do_not_override_given_values() -> None:
    """A value the user set wins over the default, nested defaults still fill the rest."""
    spec = validate_and_default(
        resource("Agent", {"modelRef": {"name": "m"}, "limits": {"maxTurns": 3}})
    )["spec"]
    assert spec["limits"] == {"maxTurns": 3, "timeout": "10m"}


def test_model_defaults_and_nested_secret_key() -> None:
    """Model gets maxTokens, timeout, onMaxTokens; apiKeySecretRef.key only with a ref."""
    bare = validate_and_default(resource("Model", {"provider": "scripted"}))["spec"]
    assert (bare["maxTokens"], bare["timeoutSeconds"], bare["onMaxTokens"]) == (1024, 120, "fail")
    assert "apiKeySecretRef" not in bare
    spec = {"provider": "anthropic", "apiKeySecretRef": {"name": "anthropic"}}
    withref = validate_and_default(resource("Model", spec))["spec"]
    assert withref["apiKeySecretRef"] == {"name": "anthropic", "key": "api-key"}


def test_null_fields_are_dropped_then_defaulted() -> None:
    """A field left empty in YAML (null) is pruned and defaulted, as kube-apiserver does."""
    spec = validate_and_default(resource("Model", {"provider": "scripted", "maxTokens": None}))
    assert spec["spec"]["maxTokens"] == 1024
    without = validate_and_default(run(task=None))["spec"]
    assert "task" not in without


def test_agentrun_and_mcpserver_defaults() -> None:
    """AgentRun defaults mode and cleanup; MCPServer its timeout."""
    spec = validate_and_default(run())["spec"]
    assert (spec["mode"], spec["cleanup"]) == ("task", "keep")
    mcp = validate_and_default(resource("MCPServer", {"transport": "http", "url": "http://x"}))
    assert mcp["spec"]["timeoutSeconds"] == 30


# -- refusals ------------------------------------------------------------------


def test_missing_required_field_is_named() -> None:
    """A missing agentRef.name reads like the API server's message."""
    error = refused(resource("AgentRun", {"agentRef": {}}))
    assert str(error) == 'AgentRun.baton.dev "demo" is invalid: spec.agentRef.name: Required value'
    assert error.field == "spec.agentRef.name"


def test_missing_spec_is_refused() -> None:
    """Every kind needs a spec."""
    obj = run()
    del obj["spec"]
    assert refused(obj).field == "spec"


def test_wrong_enum_lists_supported_values() -> None:
    """An unknown provider is refused with the supported values."""
    error = refused(resource("Model", {"provider": "gemini"}))
    assert error.field == "spec.provider"
    expected = 'Unsupported value: "gemini": supported values: "anthropic", "openai", "scripted"'
    assert expected in str(error)


@pytest.mark.parametrize("timeout", ["5 min", "10", "1d", "m5", ""])
def test_bad_duration_is_refused(timeout: str) -> None:
    """Timeouts must be Go durations."""
    assert refused(run(timeout=timeout)).field == "spec.timeout"


@pytest.mark.parametrize("timeout", ["30s", "5m", "1h30m", "1.5h", "250ms"])
def test_good_duration_is_accepted(timeout: str) -> None:
    """Go durations pass."""
    assert validate_and_default(run(timeout=timeout))["spec"]["timeout"] == timeout


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda o: o["spec"].update(colour="red"), "spec.colour"),
        (lambda o: o["spec"]["agentRef"].update(namespace="x"), "spec.agentRef.namespace"),
        (lambda o: o["metadata"].update(labelz={}), "metadata.labelz"),
        (lambda o: o.update(extra=1), "extra"),
    ],
)
def test_unknown_field_is_refused(mutate: Any, path: str) -> None:
    """Field validation is strict, as kubectl --validate=strict."""
    obj = run()
    mutate(obj)
    error = refused(obj)
    assert error.field == path
    assert f'unknown field "{path}"' in str(error)


def test_preserve_unknown_fields_accepts_any_tool_input() -> None:
    """A scripted tool call's input is free-form JSON."""
    script = [{"toolCalls": [{"name": "add", "input": {"a": 1, "nested": {"b": [1, 2]}}}]}]
    model = validate_and_default(resource("Model", {"provider": "scripted", "script": script}))
    assert model["spec"]["script"][0]["toolCalls"][0]["input"]["nested"] == {"b": [1, 2]}


@pytest.mark.parametrize(
    ("spec", "path", "words"),
    [
        ({"maxTokens": "many"}, "spec.maxTokens", "must be of type integer"),
        ({"maxTokens": True}, "spec.maxTokens", "must be of type integer"),
        ({"maxTokens": 0}, "spec.maxTokens", "should be greater than or equal to 1"),
        ({"temperature": 1.5}, "spec.temperature", "should be less than or equal to 1"),
        ({"thinking": {"budgetTokens": 10}}, "spec.thinking.budgetTokens", "greater than"),
        ({"stopSequences": "END"}, "spec.stopSequences", "must be of type array"),
        ({"script": [{"toolCalls": [{}]}]}, "spec.script[0].toolCalls[0].name", "Required"),
    ],
)
def test_model_value_checks(spec: dict[str, Any], path: str, words: str) -> None:
    """Types, bounds and nested required fields are checked with the full path."""
    error = refused(resource("Model", {"provider": "scripted", **spec}))
    assert error.field == path
    assert words in str(error)


def test_tool_must_name_exactly_one_source() -> None:
    """An Agent tool is a builtin, an MCP server or a sub-agent, never two or none."""
    two = refused(
        resource("Agent", {"modelRef": {"name": "m"}, "tools": [{"builtin": "a", "agent": "b"}]})
    )
    assert two.field == "spec.tools[0]"
    assert "oneOf" in str(two)
    assert refused(resource("Agent", {"modelRef": {"name": "m"}, "tools": [{"name": "x"}]}))


@pytest.mark.parametrize("name", ["Demo", "under_score", "-lead", "a" * 254, ""])
def test_bad_names_are_refused(name: str) -> None:
    """metadata.name must be a DNS-1123 subdomain."""
    obj = run()
    obj["metadata"]["name"] = name
    error = refused(obj)
    assert error.field == "metadata.name"


def test_bad_label_value_is_refused() -> None:
    """Label values follow the Kubernetes rules in every store."""
    obj = run()
    obj["metadata"]["labels"] = {"baton.dev/session": "has spaces"}
    assert refused(obj).field == "metadata.labels"


def test_unknown_kind_and_version_are_refused() -> None:
    """Only baton.dev/v1alpha1 kinds from the CRDs are known."""
    assert "no matches for kind" in str(refused({**run(), "kind": "Pod"}))
    assert refused({**run(), "apiVersion": "baton.dev/v1"}).field == "kind"


def test_several_errors_are_listed_together() -> None:
    """All problems are reported at once, as a bracketed list."""
    error = refused(resource("AgentRun", {"agentRef": {}, "mode": "x"}))
    assert str(error).startswith('AgentRun.baton.dev "demo" is invalid: [')
    assert "spec.agentRef.name: Required value" in str(error)
    assert "spec.mode: Unsupported value" in str(error)


# -- status ----------------------------------------------------------------------


def test_status_is_checked_only_on_status_writes() -> None:
    """A main write ignores status; a status write checks it (and not spec)."""
    obj = run()
    obj["status"] = {"phase": "Sleeping"}
    validate_and_default(obj)
    error = refused(obj, subresource="status")
    assert error.field == "status.phase"
    assert '"AwaitingApproval"' in str(error)
    no_spec = {**obj, "spec": {"nonsense": True}, "status": {"phase": "Running"}}
    validate_and_default(no_spec, subresource="status")


@pytest.mark.parametrize(
    ("status", "path"),
    [
        ({"costEstimate": 0.5}, "status.costEstimate"),
        ({"costEstimate": "$1"}, "status.costEstimate"),
        ({"startedAt": "yesterday"}, "status.startedAt"),
        ({"tokenUsage": {"input": -1}}, "status.tokenUsage.input"),
        ({"stage": "Thinking"}, "status.stage"),
        ({"conditions": [{"type": "Ready"}]}, "status.conditions[0].status"),
        (
            {"conditions": [{"type": "A", "status": "True"}, {"type": "A", "status": "False"}]},
            "status.conditions[1]",
        ),
    ],
)
def test_bad_status_is_refused(status: dict[str, Any], path: str) -> None:
    """Status fields have types, enums, formats and unique condition types."""
    obj = run()
    obj["status"] = status
    assert refused(obj, subresource="status").field == path


def test_a_status_write_checks_what_differs_from_the_stored_status() -> None:
    """Given the stored object, a change deep inside status is still checked and defaulted;
    what equals the stored value is not walked again (it was checked when written)."""
    stored = run()
    stored["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "claims": {"llm/1": {"owner": "a", "expiresAt": "2026-01-01T00:00:00Z"}},
    }
    validate_and_default(stored, subresource="status")
    changed = copy.deepcopy(stored)
    changed["status"]["claims"]["tool/1/c"] = {"owner": "b", "expiresAt": "soon"}
    error = refused(changed, subresource="status", stored=stored)
    assert error.field == "status.claims.tool/1/c.expiresAt"
    second = copy.deepcopy(stored)
    second["status"]["conditions"].append({"type": "Ready", "status": "False"})
    assert refused(second, subresource="status", stored=stored).field == "status.conditions[1]"
    # An unchanged part is taken as stored: the proof that it is not walked again.
    grandfathered = copy.deepcopy(stored)
    grandfathered["status"]["phase"] = "Sleeping"
    validate_and_default(grandfathered, subresource="status", stored=grandfathered)
    with pytest.raises(Invalid):
        validate_and_default(grandfathered, subresource="status", stored=stored)


def test_full_status_is_accepted() -> None:
    """A status as the functions write it passes."""
    obj = run()
    obj["status"] = {
        "phase": "Succeeded",
        "step": 3,
        "stage": "Done",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Succeeded",
                "message": "done",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
        "startedAt": "2026-01-01T00:00:00Z",
        "completedAt": "2026-01-01T00:00:02.5+00:00",
        "result": "5",
        "error": {"reason": "", "message": ""},
        "tokenUsage": {"input": 1, "output": 2, "total": 3, "cacheRead": 0, "cacheCreation": 0},
        "costEstimate": "0.001234",
        "toolCalls": 1,
        "pendingToolCalls": [],
        "modelAttempts": 2,
        "durationMs": 2500,
        "traceID": "abc",
        "observedGeneration": 1,
        "lastEventTime": "2026-01-01T00:00:02Z",
    }
    assert validate_and_default(obj, subresource="status")["status"]["phase"] == "Succeeded"


def test_samples_are_valid() -> None:
    """Every object in config/samples passes its CRD."""
    samples = sorted((CRD_DIR.parent / "samples").glob("*.yaml"))
    objects = [d for p in samples for d in yaml.safe_load_all(p.read_text()) if d]
    baton = [o for o in objects if str(o.get("apiVersion", "")).startswith("baton.dev/")]
    for obj in baton:
        validate_and_default(obj)


def test_fallback_model_names_must_be_dns_names() -> None:
    """spec.fallbackModelRefs takes Model names only; anything else is refused, field named."""
    agent = {"modelRef": {"name": "sonnet"}, "fallbackModelRefs": [{"name": "haiku"}]}
    validate_and_default(resource("Agent", agent))
    agent["fallbackModelRefs"] = [{"name": "haiku"}, {"name": "../etc/Passwd"}]
    assert refused(resource("Agent", agent)).field == "spec.fallbackModelRefs[1].name"
