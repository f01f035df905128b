"""Fixtures for the resource tests: a ``store`` per Store implementation.

The contract suite (test_store_contract.py) runs once per entry of
``STORE_FACTORIES``. To run it against another Store, add a factory that takes
the pytest request and returns a ready store (use ``request.getfixturevalue``
for the fixtures it needs and ``request.addfinalizer`` for cleanup), e.g.::

    def kubernetes(request):
        return request.getfixturevalue("kube_store")

    STORE_FACTORIES["kubernetes"] = kubernetes
    NAMESPACES["kubernetes"] = lambda request: request.getfixturevalue("kube").namespace
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from functions.ports import Store
from functions.resources.sqlite import SqliteStore
from tests.fixtures.kube import kube, kube_crds, kube_store

__all__ = ["kube", "kube_crds", "kube_store"]  # session fixtures the kubernetes factory uses

StoreFactory = Callable[[pytest.FixtureRequest], Store]


def sqlite(request: pytest.FixtureRequest) -> Store:
    """A SqliteStore on a fresh file in the test's tmp_path."""
    tmp_path: Path = request.getfixturevalue("tmp_path")
    store = SqliteStore(tmp_path / "baton.db")
    request.addfinalizer(store.close)
    return store


def kubernetes(request: pytest.FixtureRequest) -> Store:
    """A KubernetesStore on the session's kube-apiserver (envtest) with baton's CRDs."""
    store: Store = request.getfixturevalue("kube_store")
    return store


STORE_FACTORIES: dict[str, StoreFactory] = {
    "sqlite": sqlite,
    "kubernetes": kubernetes,
}
# The namespace the contract tests write in, per factory ("default" when absent).
NAMESPACES: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    # A throwaway namespace: the API server may be a user's cluster (BATON_TEST_KUBECONFIG).
    "kubernetes": lambda request: request.getfixturevalue("kube").namespace,
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest) -> Store:
    """A Store implementation under test (one parametrization per factory)."""
    return STORE_FACTORIES[request.param](request)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, store: Store) -> str:
    """The namespace the test writes in, for the store under test."""
    name = request.node.callspec.params["store"]
    return NAMESPACES[name](request) if name in NAMESPACES else "default"


@pytest.fixture
def tag() -> str:
    """A label value unique to the test, so list assertions hold on a shared API server."""
    return uuid.uuid4().hex[:12]
