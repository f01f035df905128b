"""Seeing a deployment work: Prometheus metrics, Kubernetes Events on runs, trace export.

Everything here sits at the seams (a Store, a ModelFactory, a Toolbox, a bus handler are
wrapped, never edited), so the transitions do not know they are watched.
"""
