"""Fixtures for driving transitions over the fake store, model and clock."""

from __future__ import annotations

import pytest

from tests.transitions.harness import Harness


@pytest.fixture
def h() -> Harness:
    """A fresh fake world per test."""
    return Harness()
