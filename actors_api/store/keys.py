"""Every Redis key the platform uses, in one place (as RQ keeps its ``rq:`` prefixes).

Nothing outside ``actors_api.store`` builds a key.
"""
PREFIX = "actors:"


def actor(actor_id: str) -> str:
    """Hash: the actor's fields, each JSON-encoded."""
    return f"{PREFIX}actor:{actor_id}"


ALL_ACTORS = f"{PREFIX}actors"  # set of every actor id


def owner_actors(owner: str) -> str:
    """Set: ids of the actors a user owns."""
    return f"{PREFIX}owner:{owner}:actors"


def actor_executions(actor_id: str) -> str:
    """Sorted set: the actor's execution ids scored by arrival sequence."""
    return f"{PREFIX}actor:{actor_id}:executions"


def actor_totals(actor_id: str) -> str:
    """Hash: running sums of cpu, io and runtime over finished executions."""
    return f"{PREFIX}actor:{actor_id}:totals"


def mailbox(actor_id: str) -> str:
    """Sorted set: SUBMITTED execution ids waiting to run, scored by arrival sequence."""
    return f"{PREFIX}actor:{actor_id}:mailbox"


MAILBOXES = f"{PREFIX}mailboxes"  # set of actor ids whose mailbox may be non-empty
SEQUENCE = f"{PREFIX}sequence"  # counter ordering every message ever accepted


def slot(actor_id: str, number: int) -> str:
    """String with expiry: the lease on one of the actor's worker slots."""
    return f"{PREFIX}actor:{actor_id}:slot:{number}"


def execution(execution_id: str) -> str:
    """Hash: the execution's fields, each JSON-encoded."""
    return f"{PREFIX}execution:{execution_id}"


def message(execution_id: str) -> str:
    """String: the raw message body, kept until the execution has read it."""
    return f"{PREFIX}execution:{execution_id}:message"


def logs(execution_id: str) -> str:
    """String: the execution's stdout and stderr, capped."""
    return f"{PREFIX}execution:{execution_id}:logs"


def kill_request(execution_id: str) -> str:
    """String: present while a force-quit of the execution is pending."""
    return f"{PREFIX}execution:{execution_id}:kill"


def spawner_running(spawner: str) -> str:
    """Set: execution ids a spawner has started and not yet finalised."""
    return f"{PREFIX}spawner:{spawner}:running"


def results(execution_id: str) -> str:
    """List: result datagrams the actor sent, oldest first."""
    return f"{PREFIX}execution:{execution_id}:results"


def done_signal(execution_id: str) -> str:
    """List: gets one entry when the execution finishes, for synchronous waiters (BLPOP)."""
    return f"{PREFIX}execution:{execution_id}:done"


def state(actor_id: str) -> str:
    """String: a stateful actor's state, JSON."""
    return f"{PREFIX}actor:{actor_id}:state"


def host(name: str) -> str:
    """String with expiry: a spawner's registration (JSON), refreshed by its heartbeat."""
    return f"{PREFIX}host:{name}"


HOSTS = f"{PREFIX}hosts"  # set of spawner names that have registered


def host_gpus_free(name: str) -> str:
    """Set: indices of the host's GPUs no execution holds."""
    return f"{PREFIX}host:{name}:gpus:free"


def host_gpus_held(name: str) -> str:
    """Hash: GPU index -> the execution holding it."""
    return f"{PREFIX}host:{name}:gpus:held"
