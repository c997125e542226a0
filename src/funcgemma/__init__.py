"""funcgemma: local function routing (FunctionGemma) and chat over Ollama or llama.cpp.

What a function author needs is importable from here: ``FunctionSpec``, the field roles
(``Copied``, ``Verbatim``, ``When``, ``Language``, ``Amount``, ``Days``), the results
(``Done``, ``Failed``) and the hooks (``FunctionHooks``, ``Command``, ``ChatCommand``).
"""

from .errors import FuncgemmaError
from .plugins import ChatCommand, Command, FunctionHooks, Invocation
from .registry import FunctionRegistry, FunctionSpec, default_registry
from .results import Done, Failed
from .roles import Amount, Copied, Days, Language, Verbatim, When
from .router import Router
from .types import Call, ChatReply, Completion, Message, RouteResult

__all__ = [
    "Amount",
    "Call",
    "ChatCommand",
    "ChatReply",
    "Command",
    "Completion",
    "Copied",
    "Days",
    "Done",
    "Failed",
    "FuncgemmaError",
    "FunctionHooks",
    "FunctionRegistry",
    "FunctionSpec",
    "Invocation",
    "Language",
    "Message",
    "RouteResult",
    "Router",
    "Verbatim",
    "When",
    "default_registry",
]
__version__ = "0.1.0"
