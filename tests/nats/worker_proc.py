"""A worker process for the kill test: ``python -m tests.nats.worker_proc URL DIR [--block]``.

Its handler performs an idempotent side effect (one line per event id in DIR/effects),
then, with ``--block``, announces DIR/holding and blocks as a model call would, so the
test can SIGKILL it while it holds the message.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

from cloudevents.core.base import BaseCloudEvent

from events.bus import Subscription
from events.buses.jetstream import JetStreamBus, JetStreamConfig
from events.envelope import CloudEvent
from events.types import TOOL_COMPLETED, TOOL_REQUESTED
from tests.fakes.events import valid_event

ACK_WAIT = 1.0


def main() -> None:
    """Subscribe call_tool and serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--block", action="store_true")
    args = parser.parse_args()
    work: Path = args.dir

    def call_tool(event: BaseCloudEvent) -> list[CloudEvent]:
        effects = work / "effects"
        done = effects.read_text().splitlines() if effects.exists() else []
        if event.get_id() not in done:  # idempotent: the effect happens once per event id
            with effects.open("a") as out:
                out.write(event.get_id() + "\n")
        (work / f"handled-by-{os.getpid()}").write_text(event.get_id())
        if args.block:
            (work / "holding").write_text(str(os.getpid()))
            time.sleep(3600)
        return [valid_event(TOOL_COMPLETED, event.get_id() + "/completed", source="/worker")]

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with JetStreamBus(JetStreamConfig(url=args.url, ack_wait=ACK_WAIT, storage="memory")) as bus:
        bus.subscribe(Subscription("call_tool", {"type": TOOL_REQUESTED}, call_tool))
        (work / f"ready-{os.getpid()}").touch()
        stop.wait()


if __name__ == "__main__":
    main()
