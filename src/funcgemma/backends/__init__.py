"""Backends: one protocol (base.Backend), real implementations for Ollama and llama.cpp,
and a scripted backend for tests of the layers above."""

from .base import Backend
from .scripted import ScriptedBackend

__all__ = ["Backend", "ScriptedBackend"]
