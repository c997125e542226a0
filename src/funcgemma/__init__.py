"""funcgemma: local function routing (FunctionGemma) and chat over Ollama or llama.cpp."""

from .errors import FuncgemmaError
from .registry import FunctionRegistry, FunctionSpec, default_registry
from .router import Router
from .types import Call, ChatReply, Completion, Message, RouteResult

__all__ = [
    "Call",
    "ChatReply",
    "Completion",
    "FuncgemmaError",
    "FunctionRegistry",
    "FunctionSpec",
    "Message",
    "RouteResult",
    "Router",
    "default_registry",
]
__version__ = "0.1.0"
