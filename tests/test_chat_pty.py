"""The terminal chat in a real terminal (a pty), as a user types it: `funcgemma chat` over a
fake Ollama (its exact wire format) and a local fake Open-Meteo, following up and
answering a question back (issue 32)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fake_ollama import CHAT_TEXT, Call, FakeOllama, Reply, last_user_text
from processes import child_env
from test_functions import forecast_body

PLACES = {"kyoto": (35.02, 135.75), "osaka": (34.69, 135.50)}
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\r")


class OpenMeteo(BaseHTTPRequestHandler):
    """/v1/search (geocoding) for the places above; /v1/forecast for any of them."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/v1/search":
            name = query.get("name", [""])[0]
            found = PLACES.get(name.lower())
            body: dict[str, Any] = {"results": [{
                "id": 1, "name": name.title(), "latitude": found[0], "longitude": found[1],
                "country_code": "JP", "country": "Japan", "timezone": "Asia/Tokyo",
                "admin1": name.title()}]} if found else {}
        else:
            body = forecast_body(date.today())
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def router_model(request: dict[str, Any]) -> Reply:
    """What FunctionGemma on Ollama does with these messages, one at a time (it sees no
    history): including the old harm, a reminder for a bare 「明日は？」."""
    if not request.get("tools"):
        return Reply(content=CHAT_TEXT)
    text = last_user_text(request)
    if "Kyoto" in text:
        return Reply(tool_calls=[Call("weather_info", {"location": "Kyoto", "date": "tomorrow"})])
    if text == "Remind me to call mom":
        return Reply(tool_calls=[Call("schedule_reminder", {"task": "call mom"})])
    if text == "can you translate my note into Italian":
        return Reply(tool_calls=[Call("translation_assist", {"text": "my note",
                                                             "target_language": "Italian"})])
    if text == "明日は？":
        return Reply(tool_calls=[Call("schedule_reminder", {"task": "明日は？", "time": "明日"})])
    return Reply(content="")


@pytest.fixture
def services() -> Iterator[tuple[str, str]]:
    meteo = ThreadingHTTPServer(("127.0.0.1", 0), OpenMeteo)
    threading.Thread(target=meteo.serve_forever, daemon=True).start()
    fake = FakeOllama(router_model, loaded=("functiongemma:latest", "gemma3:4b")).start()
    try:
        yield fake.url, f"http://127.0.0.1:{meteo.server_address[1]}"
        assert fake.problems() == []
    finally:
        fake.stop()
        meteo.shutdown()
        meteo.server_close()


class Terminal:
    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "funcgemma", "chat"], env=env,
                                     stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.seen = ""

    def until_prompt(self, timeout_s: float = 60.0) -> str:
        """What the chat printed up to its next `you> ` prompt (escape codes removed)."""
        start, deadline = len(self.seen), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.seen += ANSI.sub("", os.read(self.master, 65536).decode(
                        "utf-8", "replace"))
                except OSError:
                    break
            if self.seen.rstrip().endswith("you>") and len(self.seen) > start:
                return self.seen[start:]
            if self.proc.poll() is not None:
                break
        pytest.fail(f"no prompt; the terminal showed:\n{self.seen[-3000:]}")

    def say(self, line: str) -> str:
        os.write(self.master, line.encode() + b"\r")
        return self.until_prompt()

    def close(self) -> None:
        os.write(self.master, b"/quit\r")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.mark.slow
def test_terminal_chat_follows_up_asks_back_and_never_saves_a_fragment(
        services: tuple[str, str], tmp_path: Path) -> None:
    ollama, meteo = services
    env = child_env(FUNCGEMMA_BACKEND="ollama", FUNCGEMMA_OLLAMA_HOST=ollama,
                    FUNCGEMMA_DATA_DIR=str(tmp_path / "data"),
                    FUNCGEMMA_WEATHER_BASE_URL=meteo, FUNCGEMMA_GEOCODING_BASE_URL=meteo,
                    PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", COLUMNS="200")
    term = Terminal(env)
    try:
        term.until_prompt(timeout_s=120)
        alone = term.say("明日は？")  # nothing before it: no call, no reminder
        assert "reminder" not in alone.lower() and "リマインダー" not in alone
        kyoto = term.say("What's the weather in Kyoto tomorrow?")
        assert "Kyoto" in kyoto
        osaka = term.say("and in Osaka?")
        assert "Osaka" in osaka and "Kyoto" not in osaka.split("and in Osaka?", 1)[-1]
        asked = term.say("Remind me to call mom")
        assert "When should I remind you" in asked
        saved = term.say("at 6")
        assert "reminder #1 saved: call mom" in saved
        listed = term.say("/reminders")
        assert listed.count("call mom") == 1 and "明日は" not in listed
        # a text the message only points at is asked for, and the answer is translated
        note = term.say("can you translate my note into Italian")
        assert "asks for text" in note and "What should I translate?" in note
        answered = term.say("the cat needs feeding twice a day")
        assert '"text": "the cat needs feeding twice a day"' in answered
        assert "context" in answered
        if os.environ.get("SHOW_TERMINAL"):
            print(term.seen)
    finally:
        term.close()
