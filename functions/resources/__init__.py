"""Resources: the CRD schemas, their validation, and the stores that keep them.

Adapters live in their own modules (``sqlite``, ``kubernetes``) and are imported
by the factory that wires a shape, never from here, so importing the package
stays cheap.
"""

from __future__ import annotations

from functions.resources.schema import (
    crd_dir,
    kind_for,
    known_kinds,
    plural_of,
    resource_name,
    validate_and_default,
)

__all__ = [
    "crd_dir",
    "kind_for",
    "known_kinds",
    "plural_of",
    "resource_name",
    "validate_and_default",
]
