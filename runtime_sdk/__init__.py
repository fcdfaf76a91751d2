"""The runtime SDK: what code inside an actor imports (standard library only).

Porting an Abaco actor means changing ``from agavepy.actors import ...`` to
``from runtime_sdk import ...``.
"""
from .context import Context, get_binary_message, get_context

__all__ = ["Context", "get_binary_message", "get_context"]
