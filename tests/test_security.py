"""Requests from web pages (api/browser.py): a loopback server takes only loopback Host
headers (DNS rebinding), a state-changing request from an origin not allowed is refused,
a body that is not JSON is refused, CORS preflights are answered from FUNCGEMMA_ORIGINS.
In-process over create_app, then end to end through a real `funcgemma serve`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from apierrors import assert_error
from fake_ollama import FakeOllama, free_port
from fastapi.testclient import TestClient
from processes import child_env, funcgemma

from funcgemma.api import Service, create_app
from funcgemma.api.browser import OriginList, is_loopback, loopback_host_header
from funcgemma.backends.scripted import ScriptedBackend
from funcgemma.conversation import Conversation
from funcgemma.functions.context import FunctionContext
from funcgemma.functions.schedule_reminder.store import ReminderStore
from funcgemma.registry import default_registry
from funcgemma.router import Router
from funcgemma.settings import Settings

EVIL = "http://evil.example"
FORM = {"content-type": "application/x-www-form-urlencoded"}
LOCAL_PAGE = "http://localhost:3000"


def service(*, bind_host: str | None = "127.0.0.1", **settings: Any) -> Service:
    cfg = Settings(**settings)
    registry = default_registry()
    router = Router(ScriptedBackend({}), registry, settings=cfg)
    ctx = FunctionContext(settings=cfg)
    conversation = Conversation(router, ScriptedBackend(), registry, ctx, cfg)
    return Service(conversation, cfg, "scripted", "built by the test", bind_host=bind_host)


def client_for(svc: Service) -> TestClient:
    # the Host a browser on this machine sends to a server on 127.0.0.1:8000
    return TestClient(create_app(svc), base_url="http://127.0.0.1:8000")


@pytest.fixture
def client() -> Iterator[TestClient]:
    with client_for(service()) as c:
        yield c


def due_reminder(data_dir: Path, what: str = "call mom") -> int:
    store = ReminderStore(data_dir / "reminders.sqlite3")
    return store.add(what, datetime.now(timezone.utc) - timedelta(minutes=1)).id


def pending(data_dir: Path) -> list[str]:
    store = ReminderStore(data_dir / "reminders.sqlite3")
    return [r.what for r in store.list() if not r.notified]




# --- the pieces ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST:8000", True),
        ("127.0.0.1", True),
        ("127.0.0.1:8000", True),
        ("127.9.9.9:1", True),
        ("[::1]", True),
        ("[::1]:8000", True),
        ("evil.example", False),
        ("evil.example:8000", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("[::2]:8000", False),
        ("0.0.0.0:8000", False),
        ("192.168.1.10", False),
        ("::1", False),
        ("localhost:80@evil.example", False),
        ("", False),
    ],
)
def test_security_loopback_host_header(host: str, loopback: bool) -> None:
    assert loopback_host_header(host) is loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_security_is_loopback_bind_address(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost", True),
        ("http://localhost:3000", True),
        ("https://127.0.0.1:8443", True),
        ("http://[::1]:5173", True),
        ("HTTP://LOCALHOST:3000", True),
        (EVIL, False),
        ("http://localhost.evil.example", False),
        ("http://127.0.0.1.evil.example", False),
        ("http://evil.example:80@localhost", False),
        ("null", False),
        ("http://127.0.0.2", False),
        ("file://", False),
        ("http://localhost:3000/path", False),
    ],
)
def test_security_default_origins_are_loopback_pages(origin: str, allowed: bool) -> None:
    assert OriginList(Settings().origin_patterns).allows(origin) is allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("http://app.example.com", False),
        ("https://app.example.com:8443", False),
        ("https://app.example.com.evil.example", False),
        ("http://a.example.org", True),
        ("http://a.b.example.org", True),
        ("http://example.org", False),
        ("http://evil-example.org", False),
        ("http://a.example.org.evil.example", False),
        ("http://a.example.org:8080", False),
        ("http://tools.internal:9000", True),
        ("http://tools.internal:x", False),
    ],
)
def test_security_origins_setting_adds_patterns_with_wildcards(origin: str, allowed: bool) -> None:
    settings = Settings(
        origins="https://app.example.com, http://*.example.org,http://tools.internal:*"
    )
    assert OriginList(settings.origin_patterns).allows(origin) is allowed


def test_security_origins_star_allows_any() -> None:
    assert OriginList(Settings(origins="*").origin_patterns).allows(EVIL)


# --- in-process ------------------------------------------------------------------------


def test_security_evil_origin_cannot_take_due_reminders(client: TestClient, data_dir: Path) -> None:
    due_reminder(data_dir)
    for headers in ({"origin": EVIL}, {"origin": EVIL, **FORM}, {"origin": "null"}):
        response = client.post("/reminders/due", headers=headers, content=b"")
        error = assert_error(response, 403, "forbidden_origin")
        assert "FUNCGEMMA_ORIGINS" in error["message"]
        assert "access-control-allow-origin" not in response.headers
    assert_error(
        client.post("/reminders/due", headers={"origin": EVIL, **FORM}, content=b"a=b"),
        403,
        "forbidden_origin",
    )
    assert pending(data_dir) == ["call mom"], "nothing was marked shown"


def test_security_evil_origin_cannot_chat_route_or_delete(
    client: TestClient, data_dir: Path
) -> None:
    rid = due_reminder(data_dir)
    evil = {"origin": EVIL}
    assert_error(
        client.post("/chat", json={"message": "hi"}, headers=evil), 403, "forbidden_origin"
    )
    assert_error(
        client.post(
            "/route", content=b'{"text": "hi"}', headers={**evil, "content-type": "text/plain"}
        ),
        403,
        "forbidden_origin",
    )
    assert_error(client.delete(f"/reminders/{rid}", headers=evil), 403, "forbidden_origin")
    assert pending(data_dir) == ["call mom"]


def test_security_form_body_is_415(client: TestClient, data_dir: Path) -> None:
    due_reminder(data_dir)
    for content_type in (
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/jsonp",
    ):
        response = client.post(
            "/reminders/due", content=b"a=b", headers={"content-type": content_type}
        )
        error = assert_error(response, 415, "unsupported_media_type")
        assert "application/json" in error["message"]
    assert_error(
        client.post("/chat", content=b'{"message": "hi"}', headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert pending(data_dir) == ["call mom"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ],
)
def test_security_json_bodies_pass(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/chat", content=b'{"message": "hi"}', headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text


def test_security_curl_without_origin_works_as_before(client: TestClient, data_dir: Path) -> None:
    due_reminder(data_dir)
    taken = client.post("/reminders/due")  # no body, no Origin, no Content-Type
    assert taken.status_code == 200, taken.text
    assert [r["what"] for r in taken.json()["reminders"]] == ["call mom"]
    assert "access-control-allow-origin" not in taken.headers
    assert pending(data_dir) == []
    assert client.post("/route", json={"text": "hi"}).status_code == 200
    # a body without a Content-Type was a 422 already (FastAPI does not read it as JSON)
    assert_error(client.post("/route", content=b'{"text": "hi"}'), 415, "unsupported_media_type")


def test_security_loopback_page_may_post_and_read_the_answer(
    client: TestClient, data_dir: Path
) -> None:
    due_reminder(data_dir)
    response = client.post("/reminders/due", headers={"origin": LOCAL_PAGE})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == LOCAL_PAGE
    assert "Origin" in response.headers["vary"]
    assert pending(data_dir) == []


def test_security_evil_origin_may_get_but_not_read(client: TestClient) -> None:
    response = client.get("/functions", headers={"origin": EVIL})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_security_preflight_allowed_origin(client: TestClient) -> None:
    response = client.options(
        "/chat",
        headers={
            "origin": LOCAL_PAGE,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, authorization, idempotency-key",
        },
    )
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == LOCAL_PAGE
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "idempotency-key"} <= allowed


def test_security_preflight_refused_origin(client: TestClient) -> None:
    response = client.options(
        "/reminders/due", headers={"origin": EVIL, "access-control-request-method": "POST"}
    )
    assert_error(response, 403, "forbidden_origin")
    assert "access-control-allow-origin" not in response.headers


def test_security_preflight_needs_no_api_key_but_the_request_does(data_dir: Path) -> None:
    with client_for(service(api_key="s3cret")) as c:
        preflight = c.options(
            "/route", headers={"origin": LOCAL_PAGE, "access-control-request-method": "POST"}
        )
        assert preflight.status_code == 204
        refused = c.post("/route", json={"text": "hi"}, headers={"origin": LOCAL_PAGE})
        assert_error(refused, 401, "unauthorized")
        assert refused.headers["access-control-allow-origin"] == LOCAL_PAGE  # readable
        ok = c.post(
            "/route",
            json={"text": "hi"},
            headers={"origin": LOCAL_PAGE, "authorization": "Bearer s3cret"},
        )
        assert ok.status_code == 200


def test_security_origins_setting_adds_an_origin(data_dir: Path) -> None:
    due_reminder(data_dir)
    app_origin = "https://app.example.com"
    with client_for(service(origins=app_origin)) as c:
        response = c.post("/reminders/due", headers={"origin": app_origin})
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == app_origin
        assert (
            c.options(
                "/chat", headers={"origin": app_origin, "access-control-request-method": "POST"}
            ).status_code
            == 204
        )
        assert_error(c.post("/reminders/due", headers={"origin": EVIL}), 403, "forbidden_origin")


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "localhost.evil.example", "192.168.1.10:8000"]
)
def test_security_loopback_server_refuses_other_hosts(data_dir: Path, host: str) -> None:
    due_reminder(data_dir)
    with client_for(service()) as c:
        for method, path in (("POST", "/reminders/due"), ("GET", "/reminders"), ("GET", "/health")):
            response = c.request(method, path, headers={"host": host})
            assert_error(response, 403, "forbidden_host")
        preflight = c.options(
            "/chat",
            headers={"host": host, "origin": LOCAL_PAGE, "access-control-request-method": "POST"},
        )
        assert_error(preflight, 403, "forbidden_host")
    assert pending(data_dir) == ["call mom"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000"])
def test_security_loopback_server_takes_loopback_hosts(host: str) -> None:
    with client_for(service()) as c:
        assert c.get("/health", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("bind_host", [None, "0.0.0.0"])
def test_security_host_not_checked_off_loopback_or_when_unknown(bind_host: str | None) -> None:
    """An app built in-process (no bind address: tests, embedding) and a server on a
    public address (which needs FUNCGEMMA_API_KEY) answer any Host."""
    with TestClient(create_app(service(bind_host=bind_host))) as c:  # Host: testserver
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"host": "evil.example"}).status_code == 200


# --- end to end: a real `funcgemma serve` --------------------------------------------

APP_ORIGIN = "https://app.example.com"


@dataclass
class Served:
    url: str
    port: int
    data_dir: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The fake Ollama and `funcgemma serve` on 127.0.0.1, FUNCGEMMA_ORIGINS set."""
    tmp = tmp_path_factory.mktemp("security")
    port = free_port()
    with FakeOllama.from_scenario("e2e") as fake:
        env = child_env(FUNCGEMMA_OLLAMA_HOST=fake.url, FUNCGEMMA_DATA_DIR=str(tmp / "data"),
                        FUNCGEMMA_ORIGINS=APP_ORIGIN)
        with funcgemma(["--backend", "ollama", "serve"], env=env, log=tmp / "serve.log",
                       port=port, ready_path="/health/ready") as url:
            yield Served(url, port, tmp / "data")


@pytest.fixture
def api(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=15) as client:
        yield client


def due_now(served: Served, what: str) -> None:
    """A reminder due now, written to the served data directory's file."""
    due_reminder(served.data_dir, what)


@pytest.mark.slow
def test_security_e2e_evil_origin_post_is_403_and_nothing_is_shown(
    api: httpx.Client, served: Served
) -> None:
    due_now(served, "e2e evil origin")
    for headers in ({"origin": EVIL}, {"origin": EVIL, **FORM}):
        assert_error(api.post("/reminders/due", headers=headers), 403, "forbidden_origin")
    assert_error(
        api.post("/chat", json={"message": "hello"}, headers={"origin": EVIL}),
        403,
        "forbidden_origin",
    )
    assert "e2e evil origin" in pending(served.data_dir)


@pytest.mark.slow
def test_security_e2e_form_post_is_415(api: httpx.Client, served: Served) -> None:
    due_now(served, "e2e form")
    assert_error(
        api.post("/reminders/due", content=b"a=b", headers=FORM), 415, "unsupported_media_type"
    )
    assert_error(
        api.post("/reminders/due", content=b"a=b", headers={"origin": EVIL, **FORM}),
        403,
        "forbidden_origin",
    )
    assert "e2e form" in pending(served.data_dir)


@pytest.mark.slow
def test_security_e2e_rebound_host_is_403(api: httpx.Client, served: Served) -> None:
    due_now(served, "e2e host")
    for method, path in (("POST", "/reminders/due"), ("GET", "/reminders")):
        response = api.request(method, path, headers={"host": "evil.example"})
        assert_error(response, 403, "forbidden_host")
    assert "e2e host" in pending(served.data_dir)
    assert api.get("/health", headers={"host": f"localhost:{served.port}"}).status_code == 200


@pytest.mark.slow
def test_security_e2e_preflights(api: httpx.Client) -> None:
    for origin in (APP_ORIGIN, "http://localhost:5173"):  # FUNCGEMMA_ORIGINS, and loopback
        response = api.options(
            "/chat", headers={"origin": origin, "access-control-request-method": "POST"}
        )
        assert response.status_code == 204, response.text
        assert response.headers["access-control-allow-origin"] == origin
        assert "Idempotency-Key" in response.headers["access-control-allow-headers"]
    refused = api.options(
        "/chat", headers={"origin": EVIL, "access-control-request-method": "POST"}
    )
    assert_error(refused, 403, "forbidden_origin")


@pytest.mark.slow
def test_security_e2e_allowed_origin_and_curl_take_due_reminders(
    api: httpx.Client, served: Served
) -> None:
    due_now(served, "e2e app")
    taken = api.post("/reminders/due", headers={"origin": APP_ORIGIN})
    assert taken.status_code == 200, taken.text
    assert taken.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "e2e app" in [r["what"] for r in taken.json()["reminders"]]
    due_now(served, "e2e curl")
    curl = api.post("/reminders/due")  # as `curl -X POST .../reminders/due` sends it
    assert curl.status_code == 200, curl.text
    assert [r["what"] for r in curl.json()["reminders"]] == ["e2e curl"]
    assert "access-control-allow-origin" not in curl.headers
    chat = api.post("/chat", json={"message": "hello"})
    assert chat.status_code == 200, chat.text
