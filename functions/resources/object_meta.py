"""ObjectMeta as the API server checks it: field types, DNS-1123 names, labels, annotations.

Messages are the kube-apiserver's, so a user can search for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from functions.resources.openapi import FieldError

__all__ = ["check_metadata"]

_SUBDOMAIN_RE = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN = re.compile(f"^{_SUBDOMAIN_RE}$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{_SUBDOMAIN_RE}')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
# ObjectMeta's fields: anything else in metadata is an unknown field.
_METADATA_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "name": str,
    "generateName": str,
    "namespace": str,
    "uid": str,
    "resourceVersion": str,
    "generation": int,
    "creationTimestamp": str,
    "deletionTimestamp": str,
    "deletionGracePeriodSeconds": int,
    "labels": dict,
    "annotations": dict,
    "ownerReferences": list,
    "finalizers": list,
    "managedFields": list,
    "selfLink": str,
}


def check_metadata(metadata: dict[str, Any], errors: list[FieldError]) -> None:
    """Append what the API server would refuse in ``metadata`` (types, name, labels)."""
    for key, value in metadata.items():
        expected = _METADATA_TYPES.get(key)
        path = f"metadata.{key}"
        if expected is None:
            errors.append(FieldError(path, "field not declared in schema", True))
        elif value is not None and (not isinstance(value, expected) or isinstance(value, bool)):
            errors.append(FieldError(path, f"Invalid value: {value!r}: wrong type"))
    name = metadata.get("name")
    if not name:
        if not metadata.get("generateName"):
            errors.append(
                FieldError("metadata.name", "Required value: name or generateName is required")
            )
    elif isinstance(name, str) and (len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name)):
        errors.append(FieldError("metadata.name", f'Invalid value: "{name}": {_SUBDOMAIN_MSG}'))
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and namespace and not _valid_label(namespace):
        errors.append(
            FieldError("metadata.namespace", f'Invalid value: "{namespace}": {_LABEL_MSG}')
        )
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        _check_labels(labels, errors)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            if not isinstance(value, str):
                errors.append(
                    FieldError(f"metadata.annotations[{key}]", "Invalid value: must be a string")
                )


def _check_labels(labels: dict[str, Any], errors: list[FieldError]) -> None:
    for key, value in labels.items():
        prefix, _, label = key.rpartition("/")
        if (
            len(label) > 63
            or not _LABEL_NAME.match(label)
            or (prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)))
        ):
            errors.append(
                FieldError("metadata.labels", f'Invalid value: "{key}": invalid label key')
            )
        if not isinstance(value, str):
            errors.append(FieldError(f"metadata.labels[{key}]", "Invalid value: must be a string"))
        elif len(value) > 63 or not _LABEL_VALUE.match(value):
            errors.append(
                FieldError("metadata.labels", f'Invalid value: "{value}": {_LABEL_VALUE_MSG}')
            )


def _valid_label(value: str) -> bool:
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None
