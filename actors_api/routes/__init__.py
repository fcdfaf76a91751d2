"""One blueprint per resource."""
from werkzeug.routing import BaseConverter

from .actors import bp as actors_bp
from .admin import bp as admin_bp
from .aliases import bp as aliases_bp
from .configs import bp as configs_bp
from .events import bp as events_bp
from .executions import bp as executions_bp
from .messages import bp as messages_bp
from .nonces import bp as nonces_bp
from .outputs import bp as outputs_bp
from .permissions import bp as permissions_bp
from .rerun import bp as rerun_bp
from .runs import bp as runs_bp
from .search import bp as search_bp
from .state import bp as state_bp
from .status import bp as status_bp
from .workers import bp as workers_bp

BLUEPRINTS = (admin_bp, search_bp, actors_bp, messages_bp, executions_bp, state_bp,
              permissions_bp, nonces_bp, aliases_bp, configs_bp, events_bp, workers_bp,
              status_bp, outputs_bp, rerun_bp, runs_bp)

# Words right under /actors/ that other routes answer: never an actor id or an alias.
ROUTED_WORDS = ("admin", "aliases", "configs", "search", "utilization")


class ActorIdConverter(BaseConverter):
    """``<actor:actor_id>``: an actor id or alias, one path segment that is not a routed
    word, so ``PUT /actors/aliases`` is a 405 rather than a search for actor "aliases"."""

    regex = rf"(?!(?:{'|'.join(ROUTED_WORDS)})$)[^/]+"
    part_isolating = True  # matched against one segment (werkzeug guesses not, from the "/")
