"""Fixtures for the budget tests: a store per implementation (SQLite; kube-apiserver)."""

from __future__ import annotations

import pytest

from functions.ports import Store
from tests.resources.conftest import NAMESPACES, STORE_FACTORIES, kube, kube_crds, kube_store

__all__ = ["kube", "kube_crds", "kube_store"]


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store_ns(request: pytest.FixtureRequest) -> tuple[Store, str]:
    """A Store under test and the namespace to write in."""
    store = STORE_FACTORIES[request.param](request)
    namespace = NAMESPACES.get(request.param, lambda r: "default")(request)
    return store, namespace
