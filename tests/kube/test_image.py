"""The container build file starts what the repository provides (no image build needed)."""

from __future__ import annotations

import importlib
import json
import re

from tests.fixtures.kube import REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions(name: str) -> list[str]:
    return [
        line.split(None, 1)[1]
        for line in DOCKERFILE.read_text().splitlines()
        if line.upper().startswith(f"{name} ")
    ]


def test_cmd_runs_gunicorn_with_the_repositorys_config_and_app() -> None:
    """CMD names a gunicorn config module and an app factory that both exist."""
    (cmd,) = _instructions("CMD")
    argv = json.loads(cmd)  # exec form: gunicorn is PID 1 and gets SIGTERM
    assert argv[0] == "gunicorn"
    config = argv[argv.index("-c") + 1]
    assert config.startswith("python:")
    conf = importlib.import_module(config.removeprefix("python:"))
    # gthread, with a read deadline per request (functions/serve/worker.py)
    from gunicorn.workers.gthread import ThreadWorker

    worker_module, _, worker_class = conf.worker_class.rpartition(".")
    assert issubclass(getattr(importlib.import_module(worker_module), worker_class), ThreadWorker)
    assert conf.timeout > 600  # above Knative's longest timeoutSeconds
    module, factory = re.fullmatch(r"([\w.]+):(\w+)\(\)", argv[-1]).groups()  # type: ignore[union-attr]
    assert callable(getattr(importlib.import_module(module), factory))


def test_image_runs_as_a_numeric_non_root_user() -> None:
    """USER is a numeric uid other than 0, so runAsNonRoot can be verified by the kubelet."""
    (user,) = _instructions("USER")
    assert user.strip().isdigit()
    assert int(user) != 0


def test_build_context_holds_what_the_build_copies() -> None:
    """Every path the Dockerfile copies from the context exists and .dockerignore lets it in."""
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for copy in _instructions("COPY"):
        if copy.startswith("--from"):
            continue
        *sources, _ = copy.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert source.rstrip("/") in allowed, source
