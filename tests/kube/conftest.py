"""Fixtures for the Kubernetes tests: the session's API server and baton's CRDs on it."""

from __future__ import annotations

from tests.fixtures.kube import kube, kube_crds, kube_store

__all__ = ["kube", "kube_crds", "kube_store"]
