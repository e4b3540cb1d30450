"""The listener is killed (SIGKILL) mid-stream and restarted; the sender resends whatever was not ACKed.

An ACK is sent only after its message and resources are committed, so after the crash every ACKed message is
stored exactly once, resent messages are harmless duplicates, and nothing is lost: 1,000 messages in, 1,000
message-store rows and one Encounter per visit out. Runs `closer mllp` as a real process, on SQLite and on
PostgreSQL (skipped with the reason when unreachable)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from adt_builder import MllpClient, adt, msa, open_processor, rows

from adapters.hl7v2.framing import frame
from adapters.hl7v2.parser import parse
from closer.store.query import parse_search
from fhir_profiles.nhs_number import generate_nhs_number

pytestmark = pytest.mark.live

MESSAGES = 1000
STARTUP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ListenerProcess:
    """`closer mllp` in a process (and session) of its own, restartable on the same port and database."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "closer.cli", "mllp", "--host", "127.0.0.1", "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSER_")}
        env["PYTHONUNBUFFERED"] = "1"
        with (self.workdir / f"listener-{self.starts}.err").open("wb") as err:
            self.proc = subprocess.Popen(
                [*command, "--database-url", self.database_url],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"closer mllp exited with status {self.proc.returncode}:\n{self.stderr()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"closer mllp did not listen within {STARTUP_SECONDS:.0f} s:\n{self.stderr()}")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def stderr(self) -> str:
        return (self.workdir / f"listener-{self.starts}.err").read_text(errors="replace")[-4000:]


@pytest.fixture
def listener(database_url: str, tmp_path: Path) -> Iterator[ListenerProcess]:
    process = ListenerProcess(database_url, tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def the_messages() -> list[tuple[str, str]]:
    """(control id, message): 500 visits of 100 patients, each an admission then an update."""
    rng = random.Random(1000)
    patients = list(dict.fromkeys(generate_nhs_number(rng) for _ in range(150)))[:100]
    out = []
    for n in range(MESSAGES):
        visit, trigger = n // 2, "A01" if n % 2 == 0 else "A08"
        minute = n % 60
        out.append(
            (
                f"F{n:04d}",
                adt(
                    trigger,
                    control_id=f"F{n:04d}",
                    nhs_number=patients[visit % len(patients)],
                    visit=f"FV{visit:04d}",
                    event_time=f"202402{visit % 28 + 1:02d}{10 + n % 2:02d}{minute:02d}00",
                    admitted=f"202402{visit % 28 + 1:02d}10{minute:02d}00",
                    hospital_service="300" if trigger == "A01" else "430",
                ),
            )
        )
    return out


def connect(port: int, deadline: float) -> MllpClient:
    """Connect, retrying while the listener restarts."""
    while True:
        try:
            return MllpClient("127.0.0.1", port, timeout=30)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_sigkill_mid_stream_loses_and_duplicates_nothing(listener: ListenerProcess, database_url: str) -> None:
    messages = the_messages()
    kill_at = random.randint(300, 600)
    reached = threading.Event()
    restarted = threading.Event()

    problems: list[BaseException] = []

    def crash_and_restart() -> None:
        reached.wait()
        try:
            listener.kill()
            listener.start()
        except BaseException as exc:  # reported by the sender's thread
            problems.append(exc)
        restarted.set()

    killer = threading.Thread(target=crash_and_restart, daemon=True)
    killer.start()

    acked: set[str] = set()
    deadline = time.monotonic() + 60
    next_index, failures, resent_duplicate = 0, 0, ""
    client = connect(listener.port, deadline)
    try:
        while next_index < MESSAGES:
            control_id, text = messages[next_index]
            try:
                client.send_raw(frame(text))
                ack = parse(client.receive())
            except OSError:  # the listener died: reconnect and resend from the first message not ACKed
                failures += 1
                assert failures < 5, "the connection broke more often than the one crash"
                client.close()
                restarted.wait(timeout=STARTUP_SECONDS)
                assert not problems, f"the restart failed: {problems[0]}"
                client = connect(listener.port, deadline)
                if next_index:  # the last ACKed message too: a duplicate must change nothing
                    last_id, last = messages[next_index - 1]
                    again = client.send(last)
                    assert msa(again) == ("AA", last_id)
                    assert "Duplicate" in again.text
                    resent_duplicate = last_id
                continue
            code, acked_id = msa(ack)
            assert (code, acked_id) == ("AA", control_id), ack.text
            acked.add(control_id)
            next_index += 1
            if next_index == kill_at:
                reached.set()
    finally:
        client.close()
    killer.join(timeout=STARTUP_SECONDS)
    assert restarted.is_set() and failures >= 1, f"the listener was not killed mid-stream (at {kill_at})"
    assert resent_duplicate
    listener.stop()

    with open_processor(database_url) as processor:
        stored = rows(processor.repository)
        encounters = processor.repository.search(parse_search("Encounter", [("_count", "1000")])).matches
    assert len(stored) == MESSAGES, f"killed after {kill_at} ACKs"
    by_control = {row.control_id: row for row in stored}
    assert len(by_control) == MESSAGES
    assert acked == set(by_control)
    assert {row.status for row in stored} == {"processed"}
    assert all(row.attempts == 1 for row in stored)
    visits = sorted(e["identifier"][0]["value"] for e in encounters)
    assert visits == [f"FV{v:04d}" for v in range(MESSAGES // 2)]
    assert {e["serviceType"]["text"] for e in encounters} == {"430"}  # every visit's update was applied
