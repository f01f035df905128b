"""Reading resource files and applying them to a store, as ``kubectl apply`` would.

A file is untrusted input: its YAML is read with ``yaml_safety`` (aliases that expand past
a bound, a billion laughs, are refused before anything walks the value), and every
document must be a mapping with a ``metadata`` mapping and a valid name, or the file is
refused with a message naming the document (exit code 2, no traceback).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from functions.cli.yaml_safety import UnsafeYAML, load_documents
from functions.kube.names import is_name, is_namespace
from functions.ports import Conflict, NotFound, Resource, Store
from functions.run.status import is_terminal

__all__ = ["Applied", "ManifestError", "apply", "load_files"]

KINDS = ("Model", "MCPServer", "Agent", "AgentTrigger", "AgentRun")  # apply order: references first


class ManifestError(ValueError):
    """A file that is not a list of baton resources."""


def _checked_metadata(path: str, number: int, doc: dict[str, Any], namespace: str) -> None:
    where = f"{path}: document {number} ({doc.get('kind')})"
    meta = doc.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ManifestError(f"{where}: metadata must be a mapping, not {type(meta).__name__}")
    meta.setdefault("namespace", namespace)
    if not is_namespace(meta["namespace"]):
        raise ManifestError(f"{where}: metadata.namespace {meta['namespace']!r} is not valid")
    name, generate = meta.get("name"), meta.get("generateName")
    if name is None and generate is None:
        raise ManifestError(f"{where}: metadata.name is required")
    if name is not None and not is_name(name):
        raise ManifestError(
            f"{where}: metadata.name {str(name)[:80]!r} is not a valid name "
            "(lowercase letters, digits, '-' and '.')"
        )
    if name is None and not (isinstance(generate, str) and is_name(generate + "x")):
        raise ManifestError(f"{where}: metadata.generateName {str(generate)[:80]!r} is not valid")


def load_files(paths: Iterable[str], namespace: str = "default") -> list[Resource]:
    """Every YAML document in ``paths``, in apply order (Models first, AgentRuns last).

    A document without a namespace goes to ``namespace`` (``-n``)."""
    docs: list[Resource] = []
    paths = list(paths)
    for path in paths:
        try:
            loaded = load_documents(Path(path).read_bytes())
        except OSError as exc:
            raise ManifestError(f"{path}: {exc.strerror or exc}") from None
        except UnsafeYAML as exc:
            raise ManifestError(f"{path}: {exc}") from None
        for i, doc in enumerate(d for d in loaded if d):
            if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
                raise ManifestError(
                    f"{path}: document {i + 1} is not a baton resource "
                    f"(kind must be one of {', '.join(KINDS)})"
                )
            _checked_metadata(path, i + 1, doc, namespace)
            docs.append(doc)
    if not docs:  # as kubectl: an empty file is a mistake, not a silent success
        raise ManifestError(f"{', '.join(paths)}: no resources found")
    return sorted(docs, key=lambda d: KINDS.index(d["kind"]))


class Applied:
    """What ``apply`` did to one resource."""

    def __init__(self, obj: Resource, action: str) -> None:
        self.obj = obj
        self.action = action

    def __str__(self) -> str:
        return f"{self.obj['kind'].lower()}/{self.obj['metadata']['name']} {self.action}"


def _apply_one(store: Store, doc: Resource, rerun: bool) -> Applied:
    meta = doc["metadata"]
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + secrets.token_hex(3)
    try:
        current = store.get(doc["kind"], meta["namespace"], meta["name"])
    except NotFound:
        return Applied(store.create(doc), "created")
    if doc["kind"] == "AgentRun":
        if rerun and is_terminal(current):
            store.delete("AgentRun", meta["namespace"], meta["name"])
            return Applied(
                store.create(doc), f"re-created (the last one {current['status']['phase']})"
            )
        return Applied(current, "unchanged (already running)")
    if current.get("spec") == doc.get("spec"):
        return Applied(current, "unchanged")
    merged: dict[str, Any] = {**current, "spec": doc["spec"]}
    merged["metadata"] = {
        **current["metadata"],
        "labels": meta.get("labels", current["metadata"].get("labels")),
    }
    try:
        return Applied(store.update(merged), "configured")
    except Conflict:
        return _apply_one(store, doc, rerun)


def apply(store: Store, docs: list[Resource], *, rerun: bool = False) -> list[Applied]:
    """Create or update each resource; ``rerun`` replaces finished AgentRuns of the same name."""
    return [_apply_one(store, doc, rerun) for doc in docs]
