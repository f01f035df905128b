"""Which store a command talks to, as kubectl picks a cluster: the embedded file or a cluster.

``--kubeconfig``/``--context`` (or ``--store kubernetes``, or ``BATON_STORE=kubernetes``)
reach the Kubernetes API; otherwise ``--store sqlite:///path`` or ``--db`` (the embedded
store). ``-n`` picks a namespace (default: the kubeconfig context's, else ``default``),
``-A`` all of them.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from functions.ports import Store

__all__ = [
    "TargetError",
    "add_namespace_options",
    "add_target_options",
    "is_kubernetes",
    "namespace_of",
    "store_of",
]


class TargetError(Exception):
    """The store the command line names cannot be built (no kubeconfig, a bad ``--store``)."""


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """The global options that choose the store."""
    parser.add_argument(
        "--store",
        default=os.environ.get("BATON_STORE"),
        help="sqlite:///path or kubernetes[:///kubeconfig] (env BATON_STORE; default --db)",
    )
    parser.add_argument("--kubeconfig", help="talk to this cluster (implies --store kubernetes)")
    parser.add_argument("--context", help="the kubeconfig context to use (implies kubernetes)")
    parser.add_argument("-n", "--namespace", help="the namespace (default: the context's)")


def add_namespace_options(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    """``-n NAMESPACE`` (and ``-A`` where a command lists)."""
    # SUPPRESS: a -n given before the command (baton -n NS get runs) is not reset here.
    parser.add_argument(
        "-n",
        "--namespace",
        default=argparse.SUPPRESS,
        help="the namespace (default: the context's)",
    )
    if all_namespaces:
        parser.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def is_kubernetes(args: argparse.Namespace) -> bool:
    """True when the command talks to a cluster."""
    store = str(getattr(args, "store", None) or "")
    return bool(
        getattr(args, "kubeconfig", None)
        or getattr(args, "context", None)
        or store == "kubernetes"
        or store.startswith("kubernetes://")
    )


def store_of(args: argparse.Namespace) -> Store:
    """The store the command line names (built once per command, cached on ``args``)."""
    cached: Store | None = getattr(args, "_store_built", None)
    if cached is not None:
        return cached
    built: Any
    if is_kubernetes(args):
        from functions.resources.kubernetes import kubernetes_store

        store = str(args.store or "")
        kubeconfig = args.kubeconfig or store[len("kubernetes://") :] or None
        try:
            built = kubernetes_store(kubeconfig, context=args.context)
        except Exception as exc:  # the client's ConfigException has no root of ours
            hint = "(--kubeconfig, --context, $KUBECONFIG or ~/.kube/config)"
            raise TargetError(f"no cluster: {exc} {hint}") from None
    elif args.store:
        from functions.serve.settings import build_store

        try:
            built = build_store(args.store)
        except ValueError as exc:
            reason = str(exc).partition(": ")[2] or str(exc)
            raise TargetError(f"--store/BATON_STORE {args.store!r}: {reason}") from None
    else:
        from functions.resources.sqlite import SqliteStore

        built = SqliteStore(args.db)
    args._store_built = built
    return built  # type: ignore[no-any-return]


def db_path(args: argparse.Namespace) -> str:
    """The embedded store's file: ``--store sqlite:///path``, else ``--db``."""
    store = str(getattr(args, "store", None) or "")
    if store.startswith("sqlite://"):
        path = store[len("sqlite://") :]
        return path[1:] if path.startswith("/") else path
    return str(args.db)


def namespace_of(args: argparse.Namespace) -> str | None:
    """The namespace to act in; None with ``-A``."""
    if getattr(args, "all_namespaces", False):
        return None
    if getattr(args, "namespace", None):
        return str(args.namespace)
    if is_kubernetes(args):
        return _context_namespace(args) or "default"
    return "default"


def _context_namespace(args: argparse.Namespace) -> str | None:
    """The namespace the kubeconfig's (current or named) context sets, if any."""
    try:
        from kubernetes import config

        store = str(args.store or "")
        path = args.kubeconfig or store[len("kubernetes://") :] or os.environ.get("KUBECONFIG")
        contexts, current = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except Exception:  # no kubeconfig (in-cluster): the default namespace
        return None
    chosen = next((c for c in contexts if c.get("name") == args.context), None) or current or {}
    return (chosen.get("context") or {}).get("namespace")
