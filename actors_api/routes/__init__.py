"""One blueprint per resource."""
from .actors import bp as actors_bp
from .executions import bp as executions_bp
from .messages import bp as messages_bp
from .state import bp as state_bp

BLUEPRINTS = (actors_bp, messages_bp, executions_bp, state_bp)
