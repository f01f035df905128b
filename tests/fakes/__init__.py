"""Fakes that speak real protocols over loopback, importable by any test."""
