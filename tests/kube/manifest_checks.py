"""Checks a manifest must pass beyond the API server's own dry run.

A kube-apiserver prunes unknown fields silently (1.20 has no strict field validation), and
some Knative CRDs preserve unknown fields under ``spec`` so that only Knative's webhook,
absent here, would refuse a typo. So, as well as ``kubectl apply --dry-run=server``:

- ``dropped_fields``: anything sent that the server's answer lacks was pruned (a typo);
- ``undeclared_fields``: any field the CRD's schema does not declare, as Knative's webhook
  (strict decoding) would refuse it. A misspelled Trigger ``filter`` would otherwise route
  every event on the broker to the function.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.kube import Cluster

__all__ = ["crd_schemas", "dropped_fields", "server_dry_run", "undeclared_fields"]

Schemas = dict[tuple[str, str], dict[str, Any]]


@functools.cache
def _schemas_in(folder: Path) -> Schemas:
    schemas: Schemas = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                api_version = f"{spec['group']}/{version['name']}"
                schema = version["schema"]["openAPIV3Schema"]
                schemas[(api_version, spec["names"]["kind"])] = schema
    return schemas


def crd_schemas(folders: Iterable[Path]) -> Schemas:
    """(apiVersion, kind) -> openAPIV3Schema of every CRD in ``folders``."""
    merged: Schemas = {}
    for folder in folders:
        merged.update(_schemas_in(folder))
    return merged


def dropped_fields(sent: Any, got: Any, path: str = "") -> list[str]:
    """Paths present in ``sent`` but missing from the server's answer ``got`` (pruned)."""
    if isinstance(sent, dict):
        if not isinstance(got, dict):
            return [path]
        missing = []
        for key, value in sent.items():
            here = f"{path}.{key}" if path else key
            missing += [here] if key not in got else dropped_fields(value, got[key], here)
        return missing
    if isinstance(sent, list) and isinstance(got, list):
        # Lists keep their length on the way through; an element-wise walk suffices.
        pairs = enumerate(zip(sent, got, strict=False))
        return [m for i, (a, b) in pairs for m in dropped_fields(a, b, f"{path}[{i}]")]
    return []


def undeclared_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths in ``value`` that ``schema`` declares nowhere (metadata is the server's)."""
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, child in value.items():
            here = f"{path}.{key}" if path else key
            if here in ("apiVersion", "kind", "metadata"):  # the API server's own
                continue
            declared = schema["properties"].get(key)
            if declared is None:
                if not isinstance(schema.get("additionalProperties"), dict):
                    found.append(here)
                continue
            found += undeclared_fields(child, declared, here)
        return found
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        inner = schema["additionalProperties"]
        return [m for k, v in value.items() for m in undeclared_fields(v, inner, f"{path}.{k}")]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        return [m for i, v in enumerate(value) for m in undeclared_fields(v, items, f"{path}[{i}]")]
    return []


def server_dry_run(kube: Cluster, manifest: str, schemas: Schemas) -> list[dict[str, Any]]:
    """Dry-run ``manifest`` on the server; AssertionError when refused, pruned or undeclared."""
    sent = [doc for doc in yaml.safe_load_all(manifest) if doc]
    for doc in sent:
        schema = schemas.get((doc["apiVersion"], doc["kind"]))
        undeclared = undeclared_fields(doc, schema) if schema else []
        if undeclared:
            raise AssertionError(f"{doc['kind']}: fields its CRD does not declare: {undeclared}")
    proc = kube.kubectl(
        "apply", "--dry-run=server", "-o", "json", "-f", "-", input=manifest, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"refused by the API server:\n{proc.stderr}")
    answer = json.loads(proc.stdout)
    returned = answer["items"] if answer.get("kind") == "List" else [answer]
    by_key = {(o["kind"], o["metadata"]["name"]): o for o in returned}
    for doc in sent:
        key = (doc["kind"], doc["metadata"]["name"])
        pruned = dropped_fields(doc, by_key[key])
        if pruned:
            raise AssertionError(f"{key}: the server dropped unknown fields {pruned}")
    return returned
