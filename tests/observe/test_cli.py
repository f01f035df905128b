"""The CLI as an operator used to kubectl uses it, on the embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from events import types
from events.envelope import make_event
from functions.cli.main import main
from functions.cli.output import short_duration
from functions.runtime.embedded import Embedded
from tests.e2e.conftest import SAMPLES, docs_of, run_docs, sample, wait_terminal
from tests.fixtures.http import free_port

REPO = Path(__file__).resolve().parents[2]
BATON = [sys.executable, "-m", "functions.cli.main"]

ASK = (REPO / "tests" / "e2e" / "test_people.py").read_text().split('ASK = """')[1].split('"""')[0]
SLOW = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: slow-model}
spec:
  provider: scripted
  model: slow-1
  script:
    - text: "Thinking."
      toolCalls: [{id: c1, name: calculate, input: {expression: "6 * 7"}}]
      delayMs: 300
    - text: "It is {{last_tool_result}}."
      delayMs: 300
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: slow}
spec:
  modelRef: {name: slow-model}
  tools: [{builtin: calculate}]
"""


def _out(capsys: Any, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return str(capsys.readouterr().out)


def _run_with_events(
    tmp_path: Path,
    name: str,
    events: list[tuple[str, float]],
    *,
    phase: str | None = "Succeeded",
    from_creation: bool = False,
) -> tuple[Any, Any, dict[str, Any]]:
    """(store, event log, run): an AgentRun ``name`` with ``(type, time)`` events logged.

    A time is seconds since the epoch, or since the run's creationTimestamp with
    ``from_creation``.
    """
    from datetime import UTC, datetime

    from functions.resources.sqlite import SqliteStore
    from functions.run.status import parse_time
    from functions.runtime.eventlog import EventLog

    db = str(tmp_path / "state.db")
    store = SqliteStore(db)
    run = store.create(
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"agentRef": {"name": "sre"}, "task": "t"},
        }
    )
    if phase is not None:
        run = store.update_status({**run, "status": {"phase": phase}})
    log = EventLog(db)
    uid = run["metadata"]["uid"]
    base = (parse_time(run["metadata"]["creationTimestamp"]) or 0.0) if from_creation else 0.0
    for index, (type_, at) in enumerate(events):
        log.record(
            make_event(
                type_,
                f"/baton/runs/default/{name}",
                {"run": {"namespace": "default", "name": name, "uid": uid}, "step": index},
                id_=f"{name}-{index}",
                extensions={"batonrun": f"default/{name}", "batonstep": index},
                time=datetime.fromtimestamp(base + at, tz=UTC),
            )
        )
    log.flush()
    return store, log, run


def _finished_run(embedded: Any) -> Embedded:
    rt: Embedded = embedded(sweep_interval=0)
    run_docs(rt, sample("tools"))
    wait_terminal(rt, "tools-demo")
    return rt


def test_get_prints_what_kubectl_would(embedded: Any, capsys: Any) -> None:
    """-o json is a List, -o name is kind/name, -o wide adds cost and trace, -A the namespace."""
    rt = _finished_run(embedded)
    db = ["--db", rt.db_path]
    listed = json.loads(_out(capsys, *db, "get", "runs", "-o", "json"))
    assert (listed["kind"], [i["metadata"]["name"] for i in listed["items"]]) == (
        "List",
        ["tools-demo"],
    )
    one = yaml.safe_load(_out(capsys, *db, "get", "run", "tools-demo", "-o", "yaml"))
    assert one["status"]["phase"] == "Succeeded"
    assert _out(capsys, *db, "get", "runs", "-o", "name") == "agentrun.baton.dev/tools-demo\n"
    wide = _out(capsys, *db, "get", "runs", "-o", "wide").splitlines()
    assert wide[0].split() == [
        "NAME", "PHASE", "AGENT", "STEP", "TOKENS", "AGE", "COST", "TOOLS", "DURATION", "REASON",
        "TRACE",
    ]  # fmt: skip
    assert "$0.003321" in wide[1] and one["status"]["traceID"] in wide[1]
    duration = one["status"]["durationMs"]
    assert short_duration(duration) in wide[1].split()  # 11ms, not a bare count
    every = _out(capsys, *db, "get", "agents", "-A").splitlines()
    assert every[0].split()[:2] == ["NAMESPACE", "NAME"] and every[1].split()[:2] == [
        "default",
        "sre",
    ]
    assert _out(capsys, "--store", f"sqlite:///{rt.db_path}", "get", "models", "-o", "name") == (
        "model.baton.dev/claude-sre\n"
    )


def test_label_selector_and_watch(embedded: Any, capsys: Any) -> None:
    """-l keeps matching runs; -w prints a run created while it watches."""
    rt: Embedded = embedded(sweep_interval=0)
    docs = docs_of(SLOW)
    run_docs(rt, docs)
    for name, team in (("a-run", "red"), ("b-run", "blue")):
        run_docs(rt, [{"apiVersion": "baton.dev/v1alpha1", "kind": "AgentRun",
                       "metadata": {"name": name, "namespace": "default", "labels": {"team": team}},
                       "spec": {"agentRef": {"name": "slow"}, "task": "6*7?"}}])  # fmt: skip
    names = _out(capsys, "--db", rt.db_path, "get", "runs", "-l", "team=blue", "-o", "name")
    assert names == "agentrun.baton.dev/b-run\n"

    def later() -> None:
        time.sleep(0.5)
        run_docs(rt, [{"apiVersion": "baton.dev/v1alpha1", "kind": "AgentRun",
                       "metadata": {"name": "c-run", "namespace": "default",
                                    "labels": {"team": "blue"}},
                       "spec": {"agentRef": {"name": "slow"}, "task": "6*7?"}}])  # fmt: skip

    threading.Thread(target=later).start()
    watched = _out(capsys, "--db", rt.db_path, "get", "runs", "-l", "team=blue", "-w",
                   "--watch-timeout", "2")  # fmt: skip
    lines = [line.split()[0] for line in watched.splitlines()]
    assert lines[:2] == ["NAME", "b-run"]
    assert "c-run" in lines[2:] and "a-run" not in lines


def test_describe_shows_status_conditions_and_events(embedded: Any, capsys: Any) -> None:
    """describe run: the phase, tokens, cost, conditions and the run's Events with From."""
    rt = _finished_run(embedded)
    text = _out(capsys, "--db", rt.db_path, "describe", "run", "tools-demo")
    fields = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
              for line in text.splitlines() if ":" in line}  # fmt: skip
    assert fields["Phase"] == "Succeeded"
    assert fields["Tokens"].startswith("791 (input 712, output 79")
    events = text.split("Events:")[1].splitlines()[3:]
    assert [line.split()[:2] for line in events] == [
        ["Normal", "Validated"],
        ["Normal", "Started"],
        ["Normal", "Succeeded"],
    ]
    assert "finalize" in events[-1] and "2 model turns, 1 tool call," in events[-1]


def test_events_start_with_the_request_and_have_times(embedded: Any, capsys: Any) -> None:
    """A run created from a published request lists that request first, then the chain."""
    rt: Embedded = embedded(sweep_interval=0)
    run_docs(rt, [d for d in sample("tools") if d["kind"] != "AgentRun"])
    request = make_event(types.RUN_REQUESTED, "/test/producer", {"agent": "sre",
                         "task": "What time is it?"}, id_="req-42")  # fmt: skip
    rt.bus.publish(request)
    deadline = time.monotonic() + 10
    while not rt.store.list("AgentRun", "default"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    name = rt.store.list("AgentRun", "default")[0]["metadata"]["name"]
    wait_terminal(rt, name)
    rows = json.loads(_out(capsys, "--db", rt.db_path, "events", name, "-o", "json"))
    assert (rows[0]["type"], rows[0]["source"], rows[0]["id"]) == (
        types.RUN_REQUESTED,
        "/test/producer",
        "req-42",
    )
    chain = [r["type"] for r in rows[1:]]
    assert chain[0] == types.RESOURCE_ADD and chain[-1] == types.RUN_FINISHED
    times = [r["time"] for r in rows[1:]]
    assert all(times) and times == sorted(times)
    table = _out(capsys, "--db", rt.db_path, "events", name).splitlines()
    assert table[0].split()[:4] == ["TIME", "+MS", "STEP", "TYPE"]
    assert "run.requested" in table[1] and "run.finished" in table[-1]


def test_logs_follow_until_the_run_ends(embedded: Any, tmp_path: Path) -> None:
    """logs -f prints the transcript as it grows and returns when the run is done."""
    rt: Embedded = embedded(sweep_interval=0)
    run_docs(rt, docs_of(SLOW))
    run_docs(rt, [{"apiVersion": "baton.dev/v1alpha1", "kind": "AgentRun",
                   "metadata": {"name": "slow-run", "namespace": "default"},
                   "spec": {"agentRef": {"name": "slow"}, "task": "What is 6 * 7?"}}])  # fmt: skip
    started = time.monotonic()
    out = subprocess.run(
        [*BATON, "--db", rt.db_path, "logs", "slow-run", "-f"],
        capture_output=True, text=True, timeout=30, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started >= 0.4  # it waited for the model, not just printed
    assert "user: What is 6 * 7?" in out.stdout
    assert out.stdout.rstrip().endswith("It is 42.")


def test_version_and_a_closed_pipe(embedded: Any) -> None:
    """--version names the release; `baton get ... | head -1` ends without a traceback."""
    rt = _finished_run(embedded)
    version = subprocess.run([*BATON, "--version"], capture_output=True, text=True, cwd=REPO)
    assert version.stdout.strip() == "baton 0.1.0"
    pipe = subprocess.run(
        f"{' '.join(BATON)} --db {rt.db_path} get runs -o yaml | head -1",
        shell=True, capture_output=True, text=True, cwd=REPO,
        executable="/bin/bash", env={**os.environ, "PYTHONUNBUFFERED": "0"},
    )  # fmt: skip
    assert pipe.stdout == "apiVersion: v1\n"
    assert pipe.stderr == ""


def test_run_says_it_waits_and_approve_finishes_it(tmp_path: Path) -> None:
    """`baton run` tells how to approve; `baton approve` from another shell completes it."""
    (tmp_path / "ask.yaml").write_text(ASK.replace("DELAY", "0"))
    db = str(tmp_path / "state.db")
    running = subprocess.Popen(
        [*BATON, "--db", db, "run", str(tmp_path / "ask.yaml"), "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    assert running.stdout is not None
    seen = []
    for line in running.stdout:
        seen.append(line)
        if "approve: baton approve ask-run" in line:
            break
    assert any("ask-run: waits for approval: tool calculate (call call-1)" in s for s in seen)
    approve = subprocess.run(
        [*BATON, "--db", db, "approve", "ask-run", "--by", "alice"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert approve.returncode == 0, approve.stdout + approve.stderr
    assert "taken up by a running baton" in approve.stdout
    assert "answer: Result: 42" in approve.stdout
    rest, _ = running.communicate(timeout=60)
    assert running.returncode == 0 and "answer: Result: 42" in rest


def _parked_then_stopped(embedded: Any) -> Embedded:
    """ASK's run parked AwaitingApproval, and the runtime that ran it stopped."""
    rt: Embedded = embedded(sweep_interval=0.1)
    run_docs(rt, docs_of(ASK.replace("DELAY", "0")))
    deadline = time.monotonic() + 10
    while (rt.store.get("AgentRun", "default", "ask-run").get("status") or {}).get(
        "phase"
    ) != "AwaitingApproval":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    rt.stop()
    return rt


def test_approve_completes_a_run_nobody_follows(embedded: Any, capsys: Any) -> None:
    """With no runtime left on the store, approve runs the rest of the run itself."""
    rt = _parked_then_stopped(embedded)
    out = _out(capsys, "--db", rt.db_path, "approve", "ask-run", "--by", "bob")
    assert "no baton runtime took it up; running it here" in out
    assert "answer: Result: 42" in out
    assert "waits for approval" not in out  # decided: no second "approve:" hint


def test_webhook_warns_at_start(tmp_path: Path) -> None:
    """A Slack secret without a bot token, and an Agent that is not there, are said at once."""
    env = {**os.environ, "BATON_SLACK_SIGNING_SECRET": "s3cret"}
    env.pop("BATON_SLACK_BOT_TOKEN", None)
    port = free_port()
    proc = subprocess.Popen(
        [*BATON, "--db", str(tmp_path / "s.db"), "webhook", "--agent", "ghost",
         "--port", str(port)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    assert proc.stderr is not None
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "chat webhook on" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = "".join(lines)
    assert "BATON_SLACK_BOT_TOKEN is not set: answers cannot be posted back" in text
    assert "Agent 'ghost' does not exist in namespace default" in text
    assert "s3cret" not in text
    assert SAMPLES.exists()


def test_follow_stamps_each_event_with_its_own_time(tmp_path: Path, capsys: Any) -> None:
    """Events shown together (a run faster than the follower's poll) keep their own times."""
    from functions.cli.follow import follow

    soon = time.time()
    store, log, done = _run_with_events(
        tmp_path, "quick", [(types.RUN_ACCEPTED, soon + 0.4), (types.RUN_FINISHED, soon + 0.8)]
    )
    follow(store, log, [done], timeout=5)
    shown = [line for line in capsys.readouterr().out.splitlines() if " ms  quick" in line]
    stamps = [float(line.split(" ms")[0]) for line in shown]
    assert len(stamps) == 2, shown
    # Each at its own time (not both "now"): 400 ms apart, the first at most 400 ms after
    # follow started (later than `soon`, by however long this machine took to get there).
    assert 399.8 <= stamps[1] - stamps[0] <= 400.2, shown
    assert 0 < stamps[0] <= 400.1, shown


def test_run_shows_the_sample_chain_as_make_run_does(tmp_path: Path, capsys: Any) -> None:
    """``baton run tools.yaml`` names each event's function; the tool's record says so."""
    code = main(["--db", str(tmp_path / "s.db"), "run", str(SAMPLES / "tools.yaml")])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line.split() for line in out.splitlines() if " ms  tools-demo " in line]
    shown = [(words[5], words[7]) for words in lines]  # "<ms> ms <run> step <n> <type> -> <fn>"
    assert shown == [
        ("resource.add", "validate"),
        ("run.accepted", "prepare_context"),
        ("llm.requested", "call_llm"),
        ("tool.requested", "call_tool"),
        ("tool.completed", "(record)"),
        ("llm.requested", "call_llm"),
        ("run.completed", "finalize"),
        ("run.finished", "deliver"),
    ], out
    closed = next(line for line in out.splitlines() if "tool.completed" in line)
    assert closed.endswith(" closed") and " call " in closed, closed
    assert "answer: The current UTC time is " in out


def test_a_cluster_trigger_without_a_cluster_does_not_stop_baton_run(tmp_path: Path) -> None:
    """Applying crashloop.yaml with no kubeconfig leaves the store usable: runs still run."""
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    env.pop("BATON_TRIGGER_KUBECONFIG", None)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    db = str(tmp_path / "s.db")
    for name in ("crashloop", "hello"):
        done = subprocess.run(
            [*BATON, "--db", db, "run", str(SAMPLES / f"{name}.yaml"), "--timeout", "30"],
            capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
    assert "hello: Succeeded" in done.stdout
    assert "trigger default/crashloop: no cluster to watch" in done.stderr, done.stderr
    shown = subprocess.run(
        [*BATON, "--db", db, "get", "trigger", "crashloop", "-o", "json"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
    )  # fmt: skip
    (ready,) = [c for c in json.loads(shown.stdout)["status"]["conditions"] if c["type"] == "Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "NoCluster"), ready  # not a silent True
    assert "BATON_TRIGGER_KUBECONFIG" in ready["message"]


def test_events_count_milliseconds_from_the_first_event_not_the_whole_second(
    tmp_path: Path, capsys: Any
) -> None:
    """creationTimestamp has whole seconds: +MS starts at the watch's add, not at second .000."""
    _run_with_events(
        tmp_path, "quick", [(types.RESOURCE_ADD, 0.9), (types.RUN_FINISHED, 0.95)],
        phase=None, from_creation=True,
    )  # fmt: skip
    db = str(tmp_path / "state.db")
    table = _out(capsys, "--db", db, "events", "quick").splitlines()
    offsets = {line.split()[3]: line.split()[1] for line in table[1:]}
    assert offsets == {"created": "0", "resource.add": "0", "run.finished": "50"}, table


def test_cancel_ends_a_run_nobody_follows_and_refuses_a_finished_one(
    embedded: Any, capsys: Any
) -> None:
    """With no runtime left on the store, cancel carries the run to Cancelled itself."""
    rt = _parked_then_stopped(embedded)
    out = _out(capsys, "--db", rt.db_path, "cancel", "ask-run", "--by", "carol")
    assert "no baton runtime took it up; running it here" in out
    assert "ask-run: Cancelled" in out
    assert "waits for approval" not in out  # cancelled: nothing left to approve
    assert rt.store.get("AgentRun", "default", "ask-run")["status"]["phase"] == "Cancelled"
    capsys.readouterr()
    assert main(["--db", rt.db_path, "cancel", "ask-run"]) == 1
    assert "ask-run already ended Cancelled: nothing to cancel" in capsys.readouterr().err


def test_a_file_with_no_resources_or_broken_yaml_is_one_line_and_exit_2(
    tmp_path: Path, capsys: Any
) -> None:
    """An empty file is refused as kubectl does; a YAML error names file, line and column once."""
    db = ["--db", str(tmp_path / "s.db")]
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here yet\n")
    for argv in (["apply", "-f", str(empty)], ["run", str(empty)]):
        capsys.readouterr()
        assert main([*db, *argv]) == 2
        assert capsys.readouterr().err == f"baton: {empty}: no resources found\n"
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Agent\nspec: [unclosed\n")
    capsys.readouterr()
    assert main([*db, "apply", "-f", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"baton: {broken}: line 3, column 1: "), err
    assert "<byte string>" not in err, err


def test_serve_refuses_an_unknown_function_before_it_starts(tmp_path: Path) -> None:
    """A typo in --function is one line and exit 2, not a gunicorn worker's traceback."""
    served = subprocess.run(
        [*BATON, "--db", str(tmp_path / "s.db"), "serve", "--function", "call-lmm",
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert served.returncode == 2, served.stderr
    assert "Traceback" not in served.stderr, served.stderr
    assert served.stderr.startswith("baton serve: unknown function 'call-lmm'; known: route, "), (
        served.stderr
    )
    assert "console, webhook" in served.stderr, served.stderr


def test_get_triggers_shows_last_fired_as_an_age_as_kubectl_does(
    tmp_path: Path, capsys: Any
) -> None:
    """LAST FIRED is a date column in the CRD: kubectl prints its age, and so does baton."""
    from functions.resources.sqlite import SqliteStore
    from functions.run.status import rfc3339

    db = str(tmp_path / "state.db")
    store = SqliteStore(db)
    trigger = next(d for d in sample("github-review") if d["kind"] == "AgentTrigger")
    created = store.create({**trigger, "metadata": {**trigger["metadata"], "namespace": "default"}})
    store.update_status(
        {**created, "status": {"runsStarted": 1, "lastFired": rfc3339(time.time() - 30)}}
    )
    table = _out(capsys, "--db", db, "get", "triggers").splitlines()
    assert table[0].split() == ["NAME", "AGENT", "READY", "REASON", "RUNS", "LAST", "FIRED", "AGE"]
    row = table[1].split()
    assert row[0] == "review-pull-requests" and row[-3] == "1", table
    assert row[-2] in ("30s", "31s"), table


def test_a_cluster_that_is_not_there_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """No kubeconfig, a wrong context, a refusing API server, a bad --store: exit 1, one line."""
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}
                ],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
                "current-context": "c",
            }
        )
    )
    for argv, says in (
        (["--kubeconfig", str(tmp_path / "missing"), "get", "runs"], "baton: no cluster: "),
        (
            ["--kubeconfig", str(unreachable), "--context", "nope", "get", "runs"],
            "baton: no cluster: ",
        ),
        (
            ["--kubeconfig", str(unreachable), "describe", "run", "x"],
            "baton: Kubernetes API unreachable",
        ),
        (["--store", "bogus", "get", "runs"], "baton: --store/BATON_STORE 'bogus': expected "),
    ):
        done = subprocess.run([*BATON, *argv], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert done.returncode == 1, (argv, done.stderr)
        assert done.stderr.startswith(says) and done.stderr.count("\n") == 1, (argv, done.stderr)
        assert "not-a-real-token" not in done.stderr


def test_run_beside_a_running_serve_hands_the_runs_to_it_and_follows(embedded: Any) -> None:
    """`baton serve &` then `baton run FILE` on the same store: applied, run by the server."""
    rt: Embedded = embedded(sweep_interval=0.1)
    done = subprocess.run(
        [*BATON, "--db", rt.db_path, "run", str(SAMPLES / "hello.yaml"), "--timeout", "30"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "another baton runtime serves" in done.stdout
    assert "hello: Succeeded" in done.stdout and "run.finished" in done.stdout
    assert rt.store.get("AgentRun", "default", "hello")["status"]["phase"] == "Succeeded"


def test_a_second_serve_on_one_store_says_why_without_a_traceback(embedded: Any) -> None:
    """One embedded server per database: the second says so and exits non-zero."""
    rt: Embedded = embedded(sweep_interval=0)
    served = subprocess.run(
        [*BATON, "--db", rt.db_path, "serve", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert served.returncode != 0, served.stderr
    assert "Traceback" not in served.stderr, served.stderr
    assert f"baton serve: another baton runtime serves {rt.db_path}" in served.stderr


MISSING_MODEL = """
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: lonely}
spec: {modelRef: {name: ghost-model}}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: lonely-run}
spec: {agentRef: {name: lonely}, task: hi}
"""


def test_run_says_why_a_run_waits_for_a_missing_reference(tmp_path: Path, capsys: Any) -> None:
    """A run Pending on a Model that is not there is said at once, not after the timeout."""
    path = tmp_path / "missing.yaml"
    path.write_text(MISSING_MODEL)
    code = main(["--db", str(tmp_path / "s.db"), "run", str(path), "--timeout", "3"])
    out = capsys.readouterr().out
    assert code == 1, out
    note = next(line for line in out.splitlines() if line.startswith("lonely-run: Pending: "))
    assert "ModelNotFound: modelRef: Model default/ghost-model does not exist" in note, out
    assert out.count("lonely-run: Pending: ") == 1, out


def test_run_via_a_nats_that_is_not_there_says_so_and_stops(tmp_path: Path) -> None:
    """`baton run --nats URL` with nothing at URL: exit 2 naming it, no nats-py traceback."""
    url = f"nats://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [*BATON, "--db", str(tmp_path / "s.db"), "run", "--nats", url, str(SAMPLES / "hello.yaml")],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"baton: cannot reach NATS at {url}" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_worker_refuses_an_unknown_function_in_one_line(tmp_path: Path) -> None:
    """`baton worker --function typo`: exit 2 with the known names, no traceback."""
    done = subprocess.run(
        [*BATON, "--db", str(tmp_path / "s.db"), "worker", "--nats", "nats://127.0.0.1:1",
         "--function", "call-lmm"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("baton worker: unknown functions ['call_lmm']; known: route, ")
    assert "Traceback" not in done.stderr, done.stderr


def test_every_argument_in_help_says_what_it_is(capsys: Any) -> None:
    """`baton CMD --help` explains each positional argument, not a bare `name` or `files`."""
    import pytest

    bare = []
    for command in ("get", "describe", "logs", "events", "run", "delete", "cancel", "approve",
                    "wait", "send", "chat-send"):  # fmt: skip
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        section = text.split("positional arguments:")[1].split("options:")[0]
        bare += [f"{command}: {line.strip()}" for line in section.splitlines() if
                 line.strip() and len(line.split()) == 1 and line.startswith("  ") and
                 not line.startswith("    ")]  # fmt: skip
    assert bare == []


def test_run_of_a_trigger_file_says_what_starts_its_runs(tmp_path: Path, capsys: Any) -> None:
    """A file with triggers and no run: compiled at once (READY), and told who fires it."""
    db = ["--db", str(tmp_path / "s.db")]
    assert main([*db, "run", str(SAMPLES / "github-review.yaml")]) == 0
    out = capsys.readouterr().out
    assert "agenttrigger/review-pull-requests created" in out
    assert "AgentTriggers start runs while `baton serve` runs on this store" in out
    table = _out(capsys, *db, "get", "triggers").splitlines()
    assert table[1].split()[:4] == ["review-pull-requests", "reviewer", "True", "Ready"], table


def test_durations_read_as_kubectl_prints_them() -> None:
    """A run's duration in its own unit: ms under a second, then seconds, then minutes."""
    assert [short_duration(ms) for ms in (0, 11.6, 999, 1000, 23_237, 119_999, 300_000)] == [
        "0ms", "11ms", "999ms", "1.0s", "23.2s", "120.0s", "5m",
    ]  # fmt: skip


def test_logs_leave_out_a_system_prompt_the_agent_has_not(embedded: Any, capsys: Any) -> None:
    """No "system: " line with nothing after it when the Agent has no prompt."""
    rt: Embedded = embedded(sweep_interval=0)
    docs = sample("tools")
    for doc in docs:
        if doc["kind"] == "Agent":
            doc["spec"].pop("systemPrompt")
    run_docs(rt, docs)
    wait_terminal(rt, "tools-demo")
    shown = _out(capsys, "--db", rt.db_path, "logs", "tools-demo").splitlines()
    assert not [line for line in shown if line.startswith("system:")], shown
    assert any(line.startswith("tools: ") for line in shown)  # the context is still shown


def test_wide_names_the_condition_behind_a_reason(tmp_path: Path, capsys: Any) -> None:
    """A Succeeded run whose answer could not be posted shows Delivered:NotConfigured."""
    from functions.resources.sqlite import SqliteStore

    db = str(tmp_path / "state.db")
    store = SqliteStore(db)
    run = store.create(
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": "chatty", "namespace": "default"},
            "spec": {"agentRef": {"name": "sre"}, "task": "t"},
        }
    )
    delivered = {
        "type": "Delivered",
        "status": "False",
        "reason": "NotConfigured",
        "message": "no Slack token",
        "lastTransitionTime": "2026-12-03T10:00:00Z",
    }
    store.update_status({**run, "status": {"phase": "Succeeded", "conditions": [delivered]}})
    wide = _out(capsys, "--db", db, "get", "runs", "-o", "wide").splitlines()
    assert "Delivered:NotConfigured" in wide[1].split(), wide


def test_following_a_run_under_way_counts_from_its_first_event(tmp_path: Path, capsys: Any) -> None:
    """Events made before follow started keep their spacing (0.0, 500.0), not all 0.0."""
    from functions.cli.follow import follow

    past = time.time() - 5
    store, log, done = _run_with_events(
        tmp_path, "older", [(types.RUN_ACCEPTED, past), (types.RUN_FINISHED, past + 0.5)]
    )
    follow(store, log, [done], timeout=5)
    shown = [line for line in capsys.readouterr().out.splitlines() if " ms  older" in line]
    assert [float(line.split(" ms")[0]) for line in shown] == [0.0, 500.0], shown


def test_serve_on_a_port_in_use_says_so_at_once(tmp_path: Path) -> None:
    """One line naming the address and exit 1, not gunicorn's errors for 5 s."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [*BATON, "--db", str(tmp_path / "s.db"), "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr and "[ERROR]" not in done.stderr, done.stderr
