"""Backends: the two model roles (base.RouterModel, base.ChatModel), real
implementations for Ollama, llama.cpp and OpenAI-compatible servers, and a scripted
backend for tests of the layers above."""

from .base import ChatModel, RouterModel
from .scripted import ScriptedBackend

__all__ = ["ChatModel", "RouterModel", "ScriptedBackend"]
