"""The runtime SDK: what code inside an actor imports (standard library only).

Porting an Abaco actor means changing ``from agavepy.actors import ...`` to
``from runtime_sdk import ...``. The API client (``runtime_sdk.client``) and
the function executor (``runtime_sdk.executor``) live here too, so actors
can call the platform with the same code users run outside.
"""
from .api import get_client, update_state
from .context import Context, get_binary_message, get_context, inputs_dir, outputs_dir
from .results import MAX_RESULT_BYTES, ResultsUnavailable, send_bytes_result, send_python_result
from .serve import ForceQuit, serve

__all__ = ["Context", "ForceQuit", "MAX_RESULT_BYTES", "ResultsUnavailable", "get_binary_message", "get_client",
           "get_context", "inputs_dir", "outputs_dir", "send_bytes_result", "send_python_result", "serve",
           "update_state"]
