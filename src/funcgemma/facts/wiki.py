"""A small client for Wikipedia and Wikivoyage, over the functions' httpx client.

No API key. Wikipedia: the page summary from the REST API
(``/api/rest_v1/page/summary/{title}``: ``type`` standard | disambiguation | ...,
``extract``, ``content_urls``), search and a page's plain text (TextExtracts,
``explaintext`` with ``== Section ==`` headings) from the action API. Wikivoyage: the
action API only (its editions do not all serve the REST summary).

Wikimedia's API etiquette is kept (etiquette.py: who is asking, how often, a host that
could not be reached left alone a while) and answers are cached (cache.py), so a
question asked again sends nothing.

Any failure (time-out, no network, non-2xx, JSON that is not the API's shape) is a
``LookupFailed`` with the reason in English and Japanese: a caller says it could not
look it up and never answers from the model's memory instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from ..messages import Said
from .cache import FactsCache
from .etiquette import PACER, is_down, mark_down, user_agent

if TYPE_CHECKING:
    from ..functions.context import FunctionContext
    from ..settings import Settings

SITES = {
    "wikipedia": Said("Wikipedia", ja="ウィキペディア"),
    "wikivoyage": Said("Wikivoyage", ja="ウィキボヤージュ"),
}
SEARCH_LIMIT = 5  # candidates named for a name that is ambiguous or not found
MAX_TITLE_CHARS = 255  # MediaWiki's longest title (in bytes; characters is close enough)
MAX_RESPONSE_BYTES = 8_000_000

TIMED_OUT = Said("it did not answer in time", ja="応答がありませんでした")
UNREACHABLE = Said("it could not be reached", ja="接続できませんでした")
STILL_UNREACHABLE = Said("it could not be reached a moment ago", ja="少し前から接続できません")
UNREADABLE = Said("it sent an answer that could not be read", ja="読めない応答が返りました")
BUSY = Said("too many lookups at once", ja="問い合わせが混み合っています")
T = TypeVar("T")


class LookupFailed(Exception):
    """A source could not be asked (the reason is said to the user)."""

    def __init__(self, site: str, why: Said) -> None:
        super().__init__(f"{site}: {why}")
        self.site = site
        self.why = why


@dataclass(frozen=True)
class Page:
    site: str
    lang: str
    title: str
    url: str
    summary: str
    description: str | None = None
    text: str | None = None  # the whole page as plain text, when fetched


@dataclass(frozen=True)
class Ambiguous:
    """A disambiguation page: the name means several things."""

    site: str
    lang: str
    title: str
    candidates: list[str]


@dataclass(frozen=True)
class Missing:
    """No page for the name; ``candidates`` are what a search found instead."""

    site: str
    lang: str
    candidates: list[str]


def page_url(base: str, title: str) -> str:
    return f"{base}/wiki/{quote(title.replace(' ', '_'), safe='/:()')}"


class WikiClient:
    def __init__(self, settings: Settings, http: httpx.Client, cache: FactsCache) -> None:
        self.settings = settings
        self.http = http
        self.cache = cache

    @classmethod
    def for_context(cls, ctx: FunctionContext) -> WikiClient:
        settings = ctx.settings
        return cls(
            settings,
            ctx.http_client(),
            FactsCache(ctx.database, settings.facts_cache_max_age_s),
        )

    def base(self, site: str, lang: str) -> str:
        template = (
            self.settings.wikivoyage_url if site == "wikivoyage" else self.settings.wikipedia_url
        )
        return template.replace("{lang}", lang).rstrip("/")

    # --- HTTP -----------------------------------------------------------------------

    def get_json(
        self,
        site: str,
        url: str,
        params: dict[str, str] | None = None,
        *,
        read: Callable[[dict[str, Any]], T],
        missing_ok: bool = False,
    ) -> T | None:
        """``read`` of the JSON at ``url`` (from the cache when fresh); None for a 404 when
        ``missing_ok``. An answer ``read`` cannot read (KeyError, TypeError, ...) is
        never cached. Raises LookupFailed."""
        full = httpx.URL(url, params=params) if params else httpx.URL(url)
        key = str(full)
        cached = self.cache.get(key)
        if cached is not None:
            try:
                return read(json.loads(cached))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                pass  # edited by hand, or kept by an older funcgemma: fetched again
        host = full.netloc.decode("ascii", "replace")
        if is_down(host):
            raise LookupFailed(site, STILL_UNREACHABLE)
        timeout = self.settings.facts_timeout_s
        if not PACER.wait(self.settings.facts_max_requests_per_s, timeout):
            raise LookupFailed(site, BUSY)
        agent = user_agent()
        try:
            response = self.http.get(
                full,
                timeout=timeout,
                follow_redirects=True,  # REST: 302 for a redirect page
                headers={
                    "User-Agent": agent,
                    "Api-User-Agent": agent,
                    "Accept": "application/json",
                },
            )
        except httpx.TimeoutException:
            mark_down(host)
            raise LookupFailed(site, TIMED_OUT) from None
        except httpx.TransportError:
            mark_down(host)
            raise LookupFailed(site, UNREACHABLE) from None
        except httpx.HTTPError as exc:  # too many redirects, a bad URL
            raise LookupFailed(
                site,
                Said(
                    f"network error: {type(exc).__name__}",
                    ja=f"ネットワークエラー: {type(exc).__name__}",
                ),
            ) from None
        if missing_ok and response.status_code == 404:
            return None
        if not response.is_success:
            code = response.status_code
            raise LookupFailed(
                site, Said(f"it answered HTTP {code}", ja=f"HTTP {code} が返りました")
            )
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise LookupFailed(site, UNREADABLE)
        try:
            body = response.json()
        except ValueError:  # not JSON, or not UTF-8
            raise LookupFailed(site, UNREADABLE) from None
        if not isinstance(body, dict):
            raise LookupFailed(site, UNREADABLE)
        if "error" in body:  # the action API's own errors come with HTTP 200
            raise LookupFailed(
                site,
                Said(
                    f"it answered with an error ({_code(body)})",
                    ja=f"エラーが返りました（{_code(body)}）",
                ),
            )
        found = _shape(site, lambda: read(body))
        self.cache.put(key, response.text)
        return found

    # --- the APIs ---------------------------------------------------------------------

    def search(self, site: str, lang: str, query: str) -> list[str]:
        """Titles of the best matches for ``query`` (action API ``list=search``)."""

        def read(body: dict[str, Any]) -> list[str]:
            hits = body["query"]["search"]
            titles = [hit.get("title") for hit in hits if isinstance(hit, dict)]
            return [t for t in titles if isinstance(t, str) and t][:SEARCH_LIMIT]

        params = {
            "action": "query",
            "list": "search",
            "srsearch": query,
            "srlimit": str(SEARCH_LIMIT),
            "srprop": "",
            "format": "json",
            "formatversion": "2",
        }
        return self.get_json(site, f"{self.base(site, lang)}/w/api.php", params, read=read) or []

    def summary(self, lang: str, title: str) -> dict[str, Any] | None:
        """Wikipedia's REST summary of ``title`` (redirects followed), None if no page."""

        def read(body: dict[str, Any]) -> dict[str, Any]:
            found = {
                "type": body["type"],
                "title": body["title"],
                "extract": body.get("extract") or "",
                "url": body["content_urls"]["desktop"]["page"],
                "description": body.get("description"),
            }
            if not all(isinstance(found[k], str) for k in ("type", "title", "extract", "url")):
                raise TypeError("summary fields are not text")
            return found

        path = quote(title.replace(" ", "_"), safe="")
        url = f"{self.base('wikipedia', lang)}/api/rest_v1/page/summary/{path}"
        return self.get_json("wikipedia", url, read=read, missing_ok=True)

    def page(self, site: str, lang: str, title: str) -> dict[str, Any] | None:
        """The page's whole plain text, URL and whether it is a disambiguation page
        (action API, TextExtracts); None if there is no such page."""

        def read(body: dict[str, Any]) -> dict[str, Any]:
            page = body["query"]["pages"][0]
            if page.get("missing") or page.get("invalid"):
                return {}  # no such page (a valid answer, cached as one)
            found = {
                "title": page["title"],
                "text": page.get("extract") or "",
                "url": page.get("fullurl") or page_url(self.base(site, lang), page["title"]),
                "disambiguation": "disambiguation" in (page.get("pageprops") or {}),
            }
            if not all(isinstance(found[k], str) for k in ("title", "text", "url")):
                raise TypeError("page fields are not text")
            return found

        params = {
            "action": "query",
            "prop": "extracts|pageprops|info",
            "titles": title,
            "explaintext": "1",
            "exsectionformat": "wiki",
            "redirects": "1",
            "ppprop": "disambiguation",
            "inprop": "url",
            "format": "json",
            "formatversion": "2",
        }
        found = self.get_json(site, f"{self.base(site, lang)}/w/api.php", params, read=read)
        return found or None

    # --- one edition's page for a name -------------------------------------------------

    def _resolve(
        self, site: str, lang: str, query: str, fetch: Any
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The page for ``query`` (as written, else the best search hit that contains its
        words) and the search's titles, [] when it was found as written."""
        found = fetch(query)
        if found is not None:
            return found, []
        hits = self.search(site, lang, query)
        pick = next((t for t in hits if names_match(query, t)), None)
        return (fetch(pick) if pick else None), hits

    def wikipedia(
        self, lang: str, query: str, *, full_text: bool = False
    ) -> Page | Ambiguous | Missing:
        query = " ".join(query.split())
        if not query or len(query) > MAX_TITLE_CHARS:
            return Missing("wikipedia", lang, [])
        found, hits = self._resolve("wikipedia", lang, query, lambda t: self.summary(lang, t))
        if found is None:
            return Missing("wikipedia", lang, hits)
        if found["type"] == "disambiguation":
            hits = hits or self.search("wikipedia", lang, query)
            return Ambiguous(
                "wikipedia", lang, found["title"], [t for t in hits if t != found["title"]]
            )
        text = None
        if full_text:
            page = self.page("wikipedia", lang, found["title"])
            text = page["text"] if page else None
        return Page(
            "wikipedia",
            lang,
            found["title"],
            found["url"],
            found["extract"],
            found["description"],
            text,
        )

    def wikivoyage(self, lang: str, query: str) -> Page | Ambiguous | Missing:
        query = " ".join(query.split())
        if not query or len(query) > MAX_TITLE_CHARS:
            return Missing("wikivoyage", lang, [])
        found, hits = self._resolve(
            "wikivoyage", lang, query, lambda t: self.page("wikivoyage", lang, t)
        )
        if found is None:
            return Missing("wikivoyage", lang, hits)
        if found["disambiguation"]:
            hits = hits or self.search("wikivoyage", lang, query)
            return Ambiguous(
                "wikivoyage", lang, found["title"], [t for t in hits if t != found["title"]]
            )
        from .attributes import split_sections

        intro, _ = split_sections(found["text"])
        return Page("wikivoyage", lang, found["title"], found["url"], intro, None, found["text"])


def names_match(query: str, title: str) -> bool:
    """Whether a search hit is the page asked for: every word of the query is in its
    title ("Miyazaki" in "Hayao Miyazaki", "宮崎 駿" in "宮崎駿"). A hit that is only
    about the name is offered as a candidate, never answered from."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in query.casefold()).split()]
    folded = title.casefold()
    return bool(words) and all(w in folded for w in words)


def _code(body: dict[str, Any]) -> str:
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return str(code)[:60] if code else "unknown"


def _shape(site: str, read: Any) -> Any:
    """``read()``, with an answer not in the API's shape as a LookupFailed."""
    try:
        return read()
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LookupFailed(site, UNREADABLE) from None


__all__ = [
    "SITES",
    "Ambiguous",
    "LookupFailed",
    "Missing",
    "Page",
    "WikiClient",
    "names_match",
]
