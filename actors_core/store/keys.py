"""Every Redis key the platform uses, in one place (as RQ keeps its ``rq:`` prefixes).

Nothing outside ``actors_core.store`` builds a key.
"""
PREFIX = "actors:"


def actor(actor_id: str) -> str:
    """Hash: the actor's fields, each JSON-encoded."""
    return f"{PREFIX}actor:{actor_id}"


ALL_ACTORS = f"{PREFIX}actors"  # set of every actor id


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


def worker_lease(actor_id: str, number: int) -> str:
    """String with expiry: the lease on the actor's worker ``number`` (who runs it now).
    (The key keeps its old ``slot`` spelling, so spawners of either version agree.)"""
    return f"{PREFIX}actor:{actor_id}:slot:{number}"


def worker(actor_id: str, worker_id: str) -> str:
    """Hash: one worker of the actor (the visible record of a slot), fields JSON-encoded."""
    return f"{PREFIX}actor:{actor_id}:worker:{worker_id}"


def actor_workers(actor_id: str) -> str:
    """Set: ids of the actor's workers."""
    return f"{PREFIX}actor:{actor_id}:workers"


def workers_minimum(actor_id: str) -> str:
    """String: how many idle workers ``POST /actors/{id}/workers`` asked to keep."""
    return f"{PREFIX}actor:{actor_id}:workers:minimum"


WORKER_ACTORS = f"{PREFIX}workers"  # set of actor ids that may have worker records


def execution(execution_id: str) -> str:
    """Hash: the execution's fields, each JSON-encoded."""
    return f"{PREFIX}execution:{execution_id}"


def message(execution_id: str) -> str:
    """String: the raw message body; it expires with the logs (``log_ex`` after the
    execution ends), so a finished execution can be re-run until then."""
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


SPAWNERS = f"{PREFIX}spawners"  # hash: spawner name -> its last heartbeat record (no expiry)


def host_takeover(name: str) -> str:
    """String with expiry: the live spawner settling a lost spawner's executions."""
    return f"{PREFIX}host:{name}:takeover"


def host_gpus_free(name: str) -> str:
    """Set: indices of the host's GPUs no execution holds."""
    return f"{PREFIX}host:{name}:gpus:free"


def host_gpus_held(name: str) -> str:
    """Hash: GPU index -> the execution holding it."""
    return f"{PREFIX}host:{name}:gpus:held"


# -- sharing and access (tenants, permissions, aliases, nonces, configs) ------
# Actor, execution and nonce ids are random and global; everything a user names
# (aliases, config names) and every listing index carries the tenant, so one
# tenant's names and listings never meet another's.

def _part(text: str) -> str:
    """A user-supplied key component, escaped so it cannot forge a ':' boundary."""
    return str(text).replace("%", "%25").replace(":", "%3A")


def tenant_actors(tenant: str) -> str:
    """Set: ids of every actor of the tenant."""
    return f"{PREFIX}tenant:{_part(tenant)}:actors"


def owned_actors(tenant: str, owner: str) -> str:
    """Set: ids of the actors a user owns (counted against the limited role's maximum)."""
    return f"{PREFIX}tenant:{_part(tenant)}:owner:{_part(owner)}:actors"


def permissions(kind: str, tenant: str, ident: str) -> str:
    """Hash: username -> level name for one actor, alias or config."""
    return f"{PREFIX}tenant:{_part(tenant)}:{kind}:{_part(ident)}:permissions"


def grants(kind: str, tenant: str, user: str) -> str:
    """Set: the actors, aliases or configs a user holds a permission on (for listings)."""
    return f"{PREFIX}tenant:{_part(tenant)}:grants:{kind}:{_part(user)}"


def alias(tenant: str, name: str) -> str:
    """Hash: an alias record (alias, actor_id, owner)."""
    return f"{PREFIX}tenant:{_part(tenant)}:alias:{_part(name)}"


def tenant_aliases(tenant: str) -> str:
    """Set: every alias name of the tenant."""
    return f"{PREFIX}tenant:{_part(tenant)}:aliases"


def actor_aliases(actor_id: str) -> str:
    """Set: the alias names that point at an actor."""
    return f"{PREFIX}actor:{actor_id}:aliases"


def nonce(nonce_id: str) -> str:
    """Hash: a nonce record, with its use counters."""
    return f"{PREFIX}nonce:{_part(nonce_id)}"


def actor_nonces(actor_id: str) -> str:
    """Set: ids of the nonces created on an actor."""
    return f"{PREFIX}actor:{actor_id}:nonces"


def alias_nonces(tenant: str, name: str) -> str:
    """Set: ids of the nonces created on an alias."""
    return f"{PREFIX}tenant:{_part(tenant)}:alias:{_part(name)}:nonces"


def config(tenant: str, name: str) -> str:
    """Hash: an actor config; a secret's value is Fernet ciphertext."""
    return f"{PREFIX}tenant:{_part(tenant)}:config:{_part(name)}"


def tenant_configs(tenant: str) -> str:
    """Set: every config name of the tenant."""
    return f"{PREFIX}tenant:{_part(tenant)}:configs"


def config_targets(tenant: str, ident: str) -> str:
    """Set: names of the configs that list an actor id or alias."""
    return f"{PREFIX}tenant:{_part(tenant)}:config-target:{_part(ident)}"


def revoked_token(token_id: str) -> str:
    """String with expiry: present while a revoked token (its ``jti``) could still be presented."""
    return f"{PREFIX}revoked-token:{_part(token_id)}"


# -- search indexes (maintained by the execution store; read by store/search.py) ----

def actor_executions_by_time(actor_id: str) -> str:
    """Sorted set: the actor's execution ids scored by message_received_time (epoch seconds)."""
    return f"{PREFIX}actor:{actor_id}:executions:by-time"


def executions_by_status(status: str) -> str:
    """Set: every execution id currently in this status (intersected with readable actors)."""
    return f"{PREFIX}executions:status:{status}"


def tenant_executions_by_time(tenant: str) -> str:
    """Sorted set: every execution id of the tenant scored by message_received_time."""
    return f"{PREFIX}tenant:{_part(tenant)}:executions:by-time"


EXECUTIONS_BY_EXIT_CODE = f"{PREFIX}executions:exit-code"  # sorted set: finished id -> exit code
# sorted set: "<actor id> <execution id>" of finished records given an expiry
# (ACTORS_EXECUTION_RECORD_TTL), scored by when; the sweep unindexes them then
EXPIRING_EXECUTIONS = f"{PREFIX}executions:expiring"


RETRIES_DUE = f"{PREFIX}retries:due"  # sorted set: ended execution id -> epoch its retry is due


def search_scratch(token: str) -> str:
    """Sorted set with expiry: one search's intermediate candidate set."""
    return f"{PREFIX}search:scratch:{token}"


# -- events and cron (docs/events.md) -----------------------------------------
CRON_DUE = f"{PREFIX}cron"  # sorted set: actor ids with cron on, scored by cron_next_ex (epoch)
WEBHOOKS_PENDING = f"{PREFIX}webhooks:pending"  # sorted set: event ids, scored by next attempt


def actor_events(actor_id: str) -> str:
    """List: the actor's recent event ids (links and webhooks), newest first, capped."""
    return f"{PREFIX}actor:{actor_id}:events"


def event(event_id: str) -> str:
    """Hash: one event sent to a link or a webhook, and its delivery status."""
    return f"{PREFIX}event:{event_id}"


def event_attempts(event_id: str) -> str:
    """List: a webhook event's delivery attempts (JSON), oldest first."""
    return f"{PREFIX}event:{event_id}:attempts"


# -- status events and outputs (docs/architecture.md, "Status events") ---------

def execution_status_events(execution_id: str) -> str:
    """List: the execution's status events (JSON), ``seq`` 1, 2, ... in order."""
    return f"{PREFIX}execution:{execution_id}:status"


def execution_status_types(execution_id: str) -> str:
    """Set: the once-only event types already recorded, and ``#final`` once the log is closed."""
    return f"{PREFIX}execution:{execution_id}:status:types"


def actor_status_feed(actor_id: str) -> str:
    """Sorted set: the status events of all the actor's executions, scored by the feed cursor."""
    return f"{PREFIX}actor:{actor_id}:status"


def actor_status_cursor(actor_id: str) -> str:
    """String: the counter behind the actor feed's cursor."""
    return f"{PREFIX}actor:{actor_id}:status:cursor"


STATUS_CHANNEL = f"{PREFIX}status"  # pub/sub: "<actor id> <execution id>" per new status event
ARTIFACTS_DUE = f"{PREFIX}artifacts:due"  # sorted set: artifact prefixes, scored by deletion time


# -- runs (docs/runs.md; store/runs.py) ------------------------------------------

def run(run_id: str) -> str:
    """Hash: the run's fields, each JSON-encoded (its plan, status, counts of items)."""
    return f"{PREFIX}run:{run_id}"


def run_items(run_id: str) -> str:
    """List: each item's environment (JSON), by index."""
    return f"{PREFIX}run:{run_id}:items"


def run_cells(run_id: str) -> str:
    """Hash: ``<item>|<stage>`` -> that stage of that item (JSON: status, execution, attempt);
    a missing one is WAITING. The finally stage is the item ``finally``."""
    return f"{PREFIX}run:{run_id}:cells"


def run_counts(run_id: str) -> str:
    """Hash: ``<stage>|<STATUS>`` -> how many items' stages are in it; items_ended, items_failed."""
    return f"{PREFIX}run:{run_id}:counts"


def run_inflight(run_id: str) -> str:
    """Sorted set: cells QUEUED or RUNNING, scored 0 until a submitter takes them, then by
    when the sweep next looks at their execution."""
    return f"{PREFIX}run:{run_id}:inflight"


def run_events(run_id: str) -> str:
    """List: the run's feed of events (JSON), ``seq`` 1, 2, ... in order."""
    return f"{PREFIX}run:{run_id}:events"


ACTIVE_RUNS = f"{PREFIX}runs:active"  # set: ids of RUNNING runs (the sweep looks at them)


def tenant_runs(tenant: str) -> str:
    """Sorted set: the tenant's run ids scored by creation (epoch seconds)."""
    return f"{PREFIX}tenant:{_part(tenant)}:runs"


def owned_runs(tenant: str, owner: str) -> str:
    """Sorted set: one user's run ids scored by creation."""
    return f"{PREFIX}tenant:{_part(tenant)}:owner:{_part(owner)}:runs"


# -- waking spawners (store/work.py) ------------------------------------------------
WAKE_SUFFIX = ":wake"


def wake_list(queue: str) -> str:
    """List: actor ids, each a wake-up for one slot of a spawner serving ``queue``."""
    return f"{PREFIX}queue:{_part(queue)}{WAKE_SUFFIX}"


def task_list(queue: str) -> str:
    """List: ``<task> <argument>`` entries (image checks) for spawners serving ``queue``."""
    return f"{PREFIX}queue:{_part(queue)}:tasks"


WAKES = f"{PREFIX}wakes"  # hash: actor id -> wake-ups listed or popped and not yet admitted
WEBHOOK_TASKS = f"{PREFIX}webhooks:tasks"  # list: "deliver_webhook <event id>", any spawner
