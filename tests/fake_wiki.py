"""A fake Wikipedia and Wikivoyage, for tests (stdlib only).

A real HTTP server on 127.0.0.1 in a background thread, answering in the shapes of the
real APIs (recorded in tests/data/wiki/, whose README names each file's source):

    GET /{site}/{lang}/api/rest_v1/page/summary/{title}   REST summary (302 for a redirect)
    GET /{site}/{lang}/w/api.php?action=query&list=search  search
    GET /{site}/{lang}/w/api.php?action=query&prop=extracts|pageprops|info&titles=...

where ``site`` is ``wikipedia`` or ``wikivoyage``: point the settings at it with
``wikipedia_url=fake.wikipedia_url`` (``http://127.0.0.1:PORT/wikipedia/{lang}``). It
serves the pages of tests/data/wiki/pages.json (or those given: ``FakeWiki(load_pages(
"harness_pages.json"))``) and those a test adds, and can be made
slow (``delay_s``), broken (``status``: that status with an HTML body) or garbled
(``body``: these bytes with 200 for every request). Every request is recorded with
its headers.

    with FakeWiki() as fake:
        settings = Settings(wikipedia_url=fake.wikipedia_url, wikivoyage_url=fake.wikivoyage_url)
"""

from __future__ import annotations

import copy
import html
import json
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fake_ollama import ThreadedServer, free_port

DATA = Path(__file__).parent / "data" / "wiki"


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


TEMPLATES = {
    name: _load(f"{name}.json")
    for name in (
        "summary",
        "summary_disambiguation",
        "summary_not_found",
        "search",
        "query_extracts",
        "query_missing",
    )
}


@dataclass
class Page:
    site: str  # wikipedia | wikivoyage
    lang: str
    title: str
    text: str  # TextExtracts' plain text, == Section == headings
    summary: str = ""  # the REST extract (Wikipedia)
    description: str | None = None
    type: str = "standard"  # or "disambiguation"
    pageid: int = 0
    aliases: list[str] = field(default_factory=list)  # redirect pages to this one


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names


def load_pages(name: str = "pages.json") -> list[Page]:
    """The pages of a file in tests/data/wiki/ (``{"pages": [...]}``, as pages.json)."""
    return [Page(**p) for p in _load(name)["pages"]]


def default_pages() -> list[Page]:
    return load_pages("pages.json")


class FakeWiki(ThreadedServer):
    def __init__(self, pages: list[Page] | None = None) -> None:
        self.pages = default_pages() if pages is None else list(pages)
        self.delay_s = 0.0
        self.status: int | None = None
        self.body: bytes | None = None
        self._listen(_Server, _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def wikipedia_url(self) -> str:
        return f"{self.url}/wikipedia/{{lang}}"

    @property
    def wikivoyage_url(self) -> str:
        return f"{self.url}/wikivoyage/{{lang}}"

    def add(self, page: Page) -> None:
        with self._lock:
            self.pages.append(page)

    def requests(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    # --- the wiki ---------------------------------------------------------------------

    def find(self, site: str, lang: str, title: str) -> tuple[Page | None, bool]:
        """The page for ``title`` (normalised as MediaWiki does), and whether the title
        was a redirect to it."""
        title = normalise(title, lang)
        with self._lock:
            pages = [p for p in self.pages if p.site == site and p.lang == lang]
        for page in pages:
            if page.title == title:
                return page, False
        for page in pages:
            if title in (normalise(a, lang) for a in page.aliases):
                return page, True
        return None, False

    def search(self, site: str, lang: str, query: str, limit: int) -> list[Page]:
        """Pages whose title or text holds every word of ``query``, title matches first."""
        words = query.casefold().split()
        with self._lock:
            pages = [p for p in self.pages if p.site == site and p.lang == lang]
        hits = [
            p for p in pages if words and all(w in f"{p.title}\n{p.text}".casefold() for w in words)
        ]
        hits.sort(key=lambda p: not all(w in p.title.casefold() for w in words))
        return hits[:limit]

    def page_url(self, page: Page) -> str:
        return f"{self.url}/{page.site}/{page.lang}/wiki/{quote(page.title.replace(' ', '_'))}"


def normalise(title: str, lang: str) -> str:
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:] if lang == "en" else title


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeWiki

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return  # the client gave up first (its time-out): what a real server sees too
        if exc is not None:
            self.fake.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (~40 ms a request on Linux)
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        ex = Exchange("GET", parts.path, query, {k.lower(): v for k, v in self.headers.items()})
        with fake._lock:
            fake.exchanges.append(ex)
        if fake.delay_s and fake._stopping.wait(fake.delay_s):
            self.close_connection = True
            return
        if fake.status is not None:
            return self._send(
                fake.status, b"<html><body>Server error</body></html>", "text/html; charset=utf-8"
            )
        if fake.body is not None:
            return self._send(200, fake.body, "application/json; charset=utf-8")
        segments = parts.path.split("/")
        # "", site, lang, then "api/rest_v1/page/summary/{title}" or "w/api.php"
        if len(segments) < 4 or segments[1] not in ("wikipedia", "wikivoyage"):
            return self._json(404, {"error": "no such path"})
        site, lang, rest = segments[1], segments[2], "/".join(segments[3:])
        if site == "wikipedia" and rest.startswith("api/rest_v1/page/summary/"):
            return self._summary(site, lang, unquote(rest.split("/", 4)[4]))
        if rest == "w/api.php" and query.get("action") == "query":
            if query.get("list") == "search":
                return self._search(site, lang, query)
            if "titles" in query:
                return self._extracts(site, lang, query)
        return self._json(400, {"error": {"code": "badvalue", "info": "unsupported request"}})

    def _summary(self, site: str, lang: str, title: str) -> None:
        fake = self.server.fake
        page, redirected = fake.find(site, lang, title)
        if page is None:
            body = copy.deepcopy(TEMPLATES["summary_not_found"])
            body["uri"] = f"/{lang}.{site}.org/v1/page/summary/{quote(title)}"
            return self._json(404, body)
        canonical = page.title.replace(" ", "_")
        if redirected:  # as RESTBase: 302 to the target, which the client follows
            self.send_response(302)
            self.send_header("Location", quote(canonical))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        template = "summary_disambiguation" if page.type == "disambiguation" else "summary"
        body = copy.deepcopy(TEMPLATES[template])
        display = f'<span class="mw-page-title-main">{html.escape(page.title)}</span>'
        url = fake.page_url(page)
        body.update(
            title=page.title,
            displaytitle=display,
            pageid=page.pageid,
            lang=lang,
            titles={"canonical": canonical, "normalized": page.title, "display": display},
            description=page.description,
            extract=page.summary,
            extract_html=f"<p>{html.escape(page.summary)}</p>",
        )
        if page.description is None:
            del body["description"], body["description_source"]
        body["content_urls"] = {
            kind: {
                "page": url,
                "revisions": f"{url}?action=history",
                "edit": f"{url}?action=edit",
                "talk": url.replace("/wiki/", "/wiki/Talk:"),
            }
            for kind in ("desktop", "mobile")
        }
        return self._json(200, body)

    def _search(self, site: str, lang: str, query: dict[str, str]) -> None:
        fake = self.server.fake
        limit = int(query.get("srlimit") or 10)
        hits = fake.search(site, lang, query.get("srsearch", ""), limit)
        body = copy.deepcopy(TEMPLATES["search"])
        example = body["query"]["search"][0]
        props = set(query.get("srprop", "size|wordcount|timestamp|snippet").split("|")) - {""}
        results = []
        for page in hits:
            hit = {"ns": 0, "title": page.title, "pageid": page.pageid}
            for prop in ("size", "wordcount", "snippet", "timestamp"):
                if prop in props:
                    hit[prop] = (
                        example[prop]
                        if prop == "timestamp"
                        else {
                            "size": len(page.text.encode()),
                            "wordcount": len(page.text.split()),
                            "snippet": html.escape(page.text[:80]),
                        }[prop]
                    )
            results.append(hit)
        body["query"] = {"searchinfo": {"totalhits": len(hits)}, "search": results}
        if len(hits) < limit:
            del body["continue"]
        return self._json(200, body)

    def _extracts(self, site: str, lang: str, query: dict[str, str]) -> None:
        fake = self.server.fake
        asked = query["titles"]
        title = normalise(asked, lang)
        page, redirected = fake.find(site, lang, title)
        if redirected and query.get("redirects") in (None, "0"):
            page = None  # without redirects=1 a redirect page is not followed
        info = {
            "contentmodel": "wikitext",
            "pagelanguage": lang,
            "pagelanguagehtmlcode": lang,
            "pagelanguagedir": "ltr",
        }
        if page is None:
            body = copy.deepcopy(TEMPLATES["query_missing"])
            url = f"{fake.url}/{site}/{lang}/wiki/{quote(title.replace(' ', '_'))}"
            entry: dict[str, Any] = {"ns": 0, "title": title, "missing": True, **info}
        else:
            body = copy.deepcopy(TEMPLATES["query_extracts"])
            url = fake.page_url(page)
            entry = {
                **body["query"]["pages"][0],
                "pageid": page.pageid,
                "title": page.title,
                **info,
                "length": len(page.text.encode()),
            }
            if "extracts" in query.get("prop", ""):
                intro = page.text.split("\n\n\n==", 1)[0]
                entry["extract"] = intro if query.get("exintro") else page.text
            if page.type == "disambiguation" and "pageprops" in query.get("prop", ""):
                entry["pageprops"] = {"disambiguation": ""}
        for key in ("fullurl", "editurl", "canonicalurl"):
            entry.pop(key, None)
        if query.get("inprop") == "url":
            entry.update(fullurl=url, editurl=f"{url}?action=edit", canonicalurl=url)
        result: dict[str, Any] = {}
        if title != asked:
            result["normalized"] = [{"fromencoded": False, "from": asked, "to": title}]
        if page is not None and redirected:
            result["redirects"] = [{"from": title, "to": page.title}]
        result["pages"] = [entry]
        body["query"] = result
        return self._json(200, body)

    def _json(self, status: int, body: Any) -> None:
        self._send(
            status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8"
        )

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


__all__ = [
    "DATA",
    "TEMPLATES",
    "Exchange",
    "FakeWiki",
    "Page",
    "default_pages",
    "free_port",
    "load_pages",
    "normalise",
]
