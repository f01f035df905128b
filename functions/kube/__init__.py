"""Kubernetes as such, shared by every adapter that meets it: the API client and name rules.

Nothing here knows baton's resources or runs; the store (``functions.resources``), the
cluster tools (``functions.tools.cluster``) and the trigger sources build on it.
"""
