"""The console served alone (``BATON_FUNCTION=console``, the Knative Service) by gunicorn."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from functions.resources.sqlite import SqliteStore
from tests.console.conftest import SAMPLES
from tests.fixtures.http import serve_function


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_the_console_service_reads_the_store_and_guards_actions(tmp_path: Path) -> None:
    """It lists what is stored, serves its page and assets, and wants the token to act."""
    from functions.cli.manifests import apply, load_files

    db = tmp_path / "state.db"
    apply(SqliteStore(str(db)), load_files([str(SAMPLES / "tools.yaml")]))
    env = {"BATON_INGRESS_TOKEN": "t0ken"}
    with serve_function("console", store=f"sqlite:///{db}", log_dir=tmp_path, env=env) as served:
        status, body, _ = _get(served.url + "console/api/runs")
        assert status == 200
        assert [r["name"] for r in json.loads(body)["runs"]] == ["tools-demo"]
        status, body, headers = _get(served.url + "console/")
        assert status == 200 and b'src="static/app.js"' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        for asset in ("app.js", "run.js", "runs.js", "console.css"):
            assert _get(served.url + f"console/static/{asset}")[0] == 200, asset
        assert json.loads(_get(served.url + "console/api/info")[1])["actions"] == "token"
        request = urllib.request.Request(
            served.url + "console/api/runs/default/tools-demo/cancel", data=b"{}", method="POST"
        )
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError("an action without the token was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        assert _get(served.url + "nothing")[0] == 404
        assert "t0ken" not in served.output()
