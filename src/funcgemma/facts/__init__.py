"""Facts from sources, not from a small model's memory.

celebrity_info and travel_guide look the name up on Wikipedia and Wikivoyage
(``wiki.py``: no API key, Wikimedia's etiquette kept), cache the answers in the service's
database (``cache.py``), and hand the chat model the source's own text: the summary,
and the passage that holds what was asked (``attributes.py``). A lookup that fails says
so; nothing is answered from memory.
"""

from .cache import FactsCache
from .etiquette import user_agent
from .lookup import lookup_person, lookup_place, notice, sources_off
from .wiki import Ambiguous, LookupFailed, Missing, Page, WikiClient

__all__ = [
    "Ambiguous",
    "FactsCache",
    "LookupFailed",
    "Missing",
    "Page",
    "WikiClient",
    "lookup_person",
    "lookup_place",
    "notice",
    "sources_off",
    "user_agent",
]
