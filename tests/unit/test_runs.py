"""Runs without Docker: the plan, the store's transitions, the API, and a spawner on the
stub runtime (inputs, refusals), over fakeredis."""
from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from actors_api import create_app
from actors_core.enums import ActorStatus, ExecutionStatus
from actors_core.runs import Plan, RunSpecError, RunStatus, StageStatus, outcome_of, plan
from actors_core.store import keys
from actors_core.store.runs import SUBMIT_LEASE
from actors_core.tokens import mint
from spawner import runs as spawner_runs

from .conftest import bearer
from .stub_runtime import StubHandle, StubRuntime


# -- the plan ---------------------------------------------------------------------------
def _stage(name, *needs, actor="A"):
    return {"name": name, "actor": actor, "needs": list(needs)}


def test_stages_come_in_dependency_order_as_given_where_free():
    checked = plan([_stage("report", "test", "lint"), _stage("compile"), _stage("lint"),
                    _stage("test", "compile")])
    assert checked.names == ["compile", "lint", "test", "report"]
    assert checked.roots() == ["compile", "lint"]
    assert Plan.from_dict(checked.as_dict()) == checked


@pytest.mark.parametrize("stages, final, says", [
    ([_stage("a", "b"), _stage("b", "c"), _stage("c", "a")], None,
     "The stages' needs form a cycle: "),
    ([_stage("a", "a")], None, "cycle: a -> a"),
    ([_stage("a", "nope"), _stage("b", "a", "gone")], None,
     "Unknown stage names in needs: a needs 'nope'; b needs 'gone'."),
    ([_stage("a"), _stage("a")], None, "Stage names must be unique: a given more than once."),
    ([_stage("a")], _stage("a"), "Stage names must be unique"),
    ([_stage("_run")], None, "Stage name '_run' is not valid"),
    ([_stage("a")], _stage("f", "zz"), "f needs 'zz'"),
    ([], None, "at least one stage"),
])
def test_a_plan_that_cannot_run_says_why(stages, final, says):
    with pytest.raises(RunSpecError) as raised:
        plan(stages, final)
    assert says in str(raised.value)


def test_the_scripts_write_only_the_feeds_event_types():
    import re

    from actors_core.runs import EVENT_TYPES
    from actors_core.store import runs as run_store

    source = "".join(getattr(run_store, name) for name in dir(run_store) if name.startswith("_")
                     and isinstance(getattr(run_store, name), str))
    written = set(re.findall(r"emit\('([A-Z_]+)'", source)) - {"STAGE_", "RUN_"}
    # 'STAGE_' .. an ended status, 'RUN_' .. an ended run's status; RUN_ACCEPTED by create()
    written |= {f"STAGE_{s.value}" for s in StageStatus if s.ended}
    written |= {f"RUN_{s.value}" for s in RunStatus if s.ended} | {"RUN_ACCEPTED"}
    assert written == set(EVENT_TYPES)


def test_a_cycle_is_named_in_the_direction_work_flows():
    with pytest.raises(RunSpecError) as raised:
        plan([_stage("a", "c"), _stage("b", "a"), _stage("c", "b"), _stage("d")])
    assert str(raised.value) == "The stages' needs form a cycle: a -> b -> c -> a."


@pytest.mark.parametrize("record, outcome", [
    ({"status": "COMPLETE", "exit_code": 0}, "SUCCEEDED"),
    ({"status": "COMPLETE", "exit_code": 2}, "FAILED"),
    ({"status": "ERROR", "exit_code": None, "status_message": "no image"}, "FAILED"),
    ({"status": "COMPLETE", "exit_code": None, "status_message": "Cancelled"}, "CANCELLED"),
])
def test_what_an_ended_execution_means_for_its_stage(record, outcome):
    assert outcome_of(record)[0].value == outcome


# -- the store --------------------------------------------------------------------------
def _actors(store, *ids, owner="alice"):
    for actor_id in ids:
        store.actors.create({"id": actor_id, "owner": owner, "stateless": True,
                             "max_workers": 4, "queue": "default", "image": "img",
                             "gpus": 0, "log_ex": None}, "default")
        store.actors.set_status(actor_id, ActorStatus.READY)


def _create(store, stages, items, final=None, run_id="R0123456789ab"):
    checked = plan(stages, final)
    store.runs.create(run_id, "default", "alice", checked, items, ["default"])
    store.runs.submit_fresh(run_id)
    return run_id


def _run_everything(store, decide=lambda record: 0, spawner="s1"):
    """Claim and finish every waiting execution, as spawners would (exit code by
    ``decide``), until nothing waits. Returns the execution ids run, in order."""
    ran = []
    while True:
        moved = False
        for actor_id in store.executions.actors_with_mail():
            while True:
                eid = store.executions.claim_next(actor_id, spawner, f"{actor_id}-1")
                if eid is None:
                    break
                record = store.executions.get_internal(eid)
                if record.get("run_id") and store.runs.stage_starting(record):
                    store.executions.finish(record, ExecutionStatus.COMPLETE, 60)
                    continue
                ran.append(eid)
                store.executions.finish(record, ExecutionStatus.COMPLETE, 60,
                                        exit_code=decide(record))
                moved = True
        if not moved:
            return ran


def _states(store, run_id):
    run = store.runs.get(run_id, 0, 1000)
    return {(item["index"], s["name"]): s["status"] for item in run["items"]
            for s in item["stages"]}


def test_two_stages_over_items_run_in_order_then_finally(store):
    _actors(store, "A", "B", "F")
    run_id = _create(store, [_stage("compile", actor="A"), _stage("test", "compile", actor="B")],
                     [{"STUDENT": "ann"}, {"STUDENT": "bob"}, {"STUDENT": "cy"}],
                     final=_stage("grade", "test", actor="F"))
    ran = _run_everything(store)
    assert len(ran) == 7 and len(set(ran)) == 7
    run = store.runs.get(run_id, 0, 10)
    assert run["status"] == "COMPLETE" and run["items_ended"] == 3 and run["items_failed"] == 0
    assert run["finally"]["status"] == "SUCCEEDED"
    assert [s["counts"]["succeeded"] for s in run["stages"]] == [3, 3]
    first = store.executions.get_internal(ran[0])
    assert first["environment"]["STUDENT"] == "ann" and first["executor"] == "alice"
    assert first["environment"]["_abaco_run_stage"] == "compile"
    final = store.executions.get_internal(run["finally"]["execution_id"])
    assert final["run_item"] == "finally"
    assert json.loads(store.executions.message_body(final["id"]))["items_ended"] == 3
    types = [e["type"] for e in store.runs.events_since(run_id, 0, 1000)["events"]]
    assert types[0] == "RUN_ACCEPTED" and types[-1] == "RUN_COMPLETE"
    assert types.count("ITEM_ENDED") == 3 and types.count("STAGE_SUCCEEDED") == 7


def test_a_failed_stage_skips_what_needs_it_and_the_others_go_on(store):
    _actors(store, "A", "B")
    run_id = _create(store, [_stage("compile", actor="A"), _stage("test", "compile", actor="B"),
                             _stage("report", "test", actor="B"), _stage("lint", actor="B")],
                     [{"N": "0"}, {"N": "1"}])
    _run_everything(store, decide=lambda r: 1 if (r["environment"]["N"] == "1"
                                                  and r["run_stage"] == "compile") else 0)
    states = _states(store, run_id)
    assert states[(1, "compile")] == "FAILED" and states[(1, "lint")] == "SUCCEEDED"
    assert states[(1, "test")] == states[(1, "report")] == "SKIPPED"
    assert set(states[(0, s)] for s in ("compile", "test", "report", "lint")) == {"SUCCEEDED"}
    run = store.runs.get(run_id, 1, 1)
    test = run["items"][0]["stages"][1]
    assert test["reason"] == "Not run: it needs compile, which failed." and \
        test["execution_id"] is None
    assert run["status"] == "FAILED" and run["items_failed"] == 1
    assert run["items"][0]["status"] == "FAILED"


def test_an_end_is_counted_once_and_a_stale_execution_never_starts(store):
    _actors(store, "A", "B")
    run_id = _create(store, [_stage("a", actor="A"), _stage("b", "a", actor="B")], [{}])
    eid = store.executions.claim_next("A", "s1", "A-1")
    record = store.executions.get_internal(eid)
    assert store.runs.stage_starting(record) is None
    assert store.runs.stage_starting(record) is not None  # RUNNING already: not twice
    store.executions.finish(record, ExecutionStatus.COMPLETE, 60, exit_code=0)
    ended = dict(store.executions.get_internal(eid))
    assert store.runs.execution_ended(ended) is False  # told again: nothing changes
    assert store.redis.zcard(keys.mailbox("B")) == 1  # b was submitted once
    stale = dict(record, id=eid + "x")
    assert "no longer its run's current attempt" in store.runs.stage_starting(stale)
    assert store.runs.get(run_id)["stages"][1]["counts"]["queued"] == 1


def test_an_end_submits_what_it_made_ready_and_leaves_the_rest_to_the_job(store):
    _actors(store, "A", "B")
    checked = plan([_stage("a", actor="A"), _stage("b", "a", actor="B")])
    store.runs.create("Rhook", "default", "alice", checked, [{}, {}, {}], ["default"])
    assert store.runs.submit("Rhook", ["0|a"]) == 1
    assert store.runs.submit("Rhook", ["0|a"]) == 0  # claimed already: never twice
    eid = store.executions.claim_next("A", "s1", "A-1")
    record = store.executions.get_internal(eid)
    store.runs.stage_starting(record)
    store.executions.finish(record, ExecutionStatus.COMPLETE, 60, exit_code=0)
    assert store.redis.zcard(keys.mailbox("B")) == 1  # item 0's b, by the finishing process
    assert store.redis.zcard(keys.mailbox("A")) == 0  # items 1 and 2: the advance job's
    assert store.runs.submit_fresh("Rhook") == 2


def test_a_crash_between_ready_and_submitted_is_repaired_by_the_sweep(store):
    _actors(store, "A", "B")
    run_id = _create(store, [_stage("a", actor="A"), _stage("b", "a", actor="B")], [{}])
    eid = store.executions.claim_next("A", "s1", "A-1")
    record = store.executions.get_internal(eid)
    store.runs.stage_starting(record)
    store.executions.on_end = None  # the process dies right after the finish transition
    store.executions.finish(record, ExecutionStatus.COMPLETE, 60, exit_code=0)
    store.executions.on_end = store.runs.execution_ended
    assert _states(store, run_id)[(0, "a")] == "RUNNING"
    assert store.runs.check_due(run_id) == {"told": 0, "reissued": 0, "vanished": 0,
                                            "submitted": 0}  # its lease has not run out
    later = time.time() + SUBMIT_LEASE + 1
    assert store.runs.check_due(run_id, now=later)["told"] == 1
    assert _states(store, run_id) == {(0, "a"): "SUCCEEDED", (0, "b"): "QUEUED"}
    assert store.redis.zcard(keys.mailbox("B")) == 1

    # b's cell is QUEUED and claimed by a submitter that died before it submitted:
    cell_b = store.runs.get(run_id, 0, 1)["items"][0]["stages"][1]
    store.executions.delete_for_actor("B")  # as if its execution was never written
    assert store.runs.check_due(run_id, now=later + SUBMIT_LEASE + 1)["reissued"] == 1
    again = store.runs.get(run_id, 0, 1)["items"][0]["stages"][1]
    assert again["attempt"] == cell_b["attempt"] + 1 and again["status"] == "QUEUED"
    assert store.executions.get_internal(again["execution_id"])["status"] == "SUBMITTED"
    late = dict(store.executions.get_internal(again["execution_id"]), id=cell_b["execution_id"])
    assert store.runs.stage_starting(late)  # the lost submit, landing late, never starts
    _run_everything(store)
    assert store.runs.get(run_id)["status"] == "COMPLETE"


def test_cancel_ends_what_never_started_kills_what_runs_and_the_finally_stage_runs(store):
    _actors(store, "A", "B", "F")
    run_id = _create(store, [_stage("a", actor="A"), _stage("b", "a", actor="B")],
                     [{}, {}, {}], final=_stage("f", actor="F"))
    running = store.executions.claim_next("A", "s1", "A-1")
    store.runs.stage_starting(store.executions.get_internal(running))
    done = store.runs.cancel(run_id)
    assert done == {"status": "RUNNING", "cancelled": 2, "killed": 1}
    assert store.executions.kill_requested(running)
    states = _states(store, run_id)
    assert states[(1, "a")] == states[(2, "a")] == "CANCELLED"
    assert states[(1, "b")] == "CANCELLED" and states[(0, "a")] == "RUNNING"
    # the killed execution ends; its item ends CANCELLED; then the finally stage runs
    store.executions.finish(store.executions.get_internal(running), ExecutionStatus.COMPLETE,
                            60, exit_code=137, final_state={"ForceQuit": True})
    assert _states(store, run_id)[(0, "a")] == "CANCELLED"
    ran = _run_everything(store)
    assert ran == [store.runs.get(run_id)["finally"]["execution_id"]]
    final = store.executions.get_internal(ran[0])
    assert final["environment"]["_abaco_run_cancelled"] == "true"
    run = store.runs.get(run_id)
    assert run["status"] == "CANCELLED" and run["finally"]["status"] == "SUCCEEDED"
    assert store.runs.cancel(run_id)["status"] == "CANCELLED"  # a second cancel: nothing


def test_rerun_of_the_failed_item_reuses_what_succeeded(store):
    _actors(store, "A", "B", "F")
    run_id = _create(store, [_stage("a", actor="A"), _stage("b", "a", actor="B")],
                     [{"N": "0"}, {"N": "1"}], final=_stage("f", actor="F"))
    _run_everything(store, decide=lambda r: 1 if r["environment"].get("N") == "1" else 0)
    before = store.runs.get(run_id, 0, 2)
    first = {(i["index"], s["name"]): s["execution_id"] for i in before["items"]
             for s in i["stages"]}
    assert before["status"] == "FAILED"
    assert store.runs.rerun(run_id, [0], None, False, ["default"]) == {"reset": 0, "final": False}
    assert store.runs.rerun(run_id, [1], None, False, ["default"]) == {"reset": 2, "final": True}
    assert store.runs.rerun(run_id, [1], None, False, ["default"]) == {"status": "RUNNING"}
    store.runs.submit_fresh(run_id)
    ran = _run_everything(store)
    after = store.runs.get(run_id, 0, 2)
    assert after["status"] == "COMPLETE" and after["items_failed"] == 0
    assert after["items"][0]["stages"][0]["execution_id"] == first[(0, "a")]  # reused
    assert after["items"][1]["stages"][0]["attempt"] == 2
    assert len(ran) == 3  # item 1's a and b, then f
    forced = store.runs.rerun(run_id, None, ["b"], True, ["default"])
    assert forced == {"reset": 2, "final": True}


def test_a_thousand_items_are_accepted_with_a_few_writes(store):
    _actors(store, "A", "B", "C")
    stages = [_stage("a", actor="A"), _stage("b", "a", actor="B"), _stage("c", "b", actor="C")]
    checked = plan(stages)
    store.runs.create("Rbig", "default", "alice", checked, [{"I": str(i)} for i in range(1000)],
                      ["default"])
    run = store.runs.get("Rbig", 0, 0)
    assert run["stages"][0]["counts"]["queued"] == 1000
    assert run["stages"][2]["counts"]["waiting"] == 1000
    assert store.redis.zcard(keys.mailbox("A")) == 0  # nothing submitted by the API
    assert store.runs.submit_fresh("Rbig") == 1000
    assert store.redis.zcard(keys.mailbox("A")) == 1000


# -- the API ----------------------------------------------------------------------------
@pytest.fixture
def app(config, store, tmp_path):
    return create_app(config.with_overrides(artifact_url=str(tmp_path / "artifacts")), store)


def _register(http, headers, image="actors/echo"):
    return http.post("/actors", json={"image": image}, headers=headers).json["result"]["id"]


def _post_run(http, headers, body):
    return http.post("/runs", json=body, headers=headers)


def test_creating_a_run_needs_execute_on_every_actor_and_a_dag(http, alice, config, store):
    mine = _register(http, alice)
    bobs = _register(http, bearer(config, "bob"))
    body = {"stages": [{"name": "a", "actor": mine}, {"name": "b", "actor": bobs,
                                                      "needs": ["a"]}], "items": [{"X": 1}]}
    refused = _post_run(http, alice, body)
    assert refused.status_code == 403 and "EXECUTE" in refused.json["message"]
    http.post(f"/actors/{bobs}/permissions", json={"user": "alice", "level": "EXECUTE"},
              headers=bearer(config, "bob"))
    missing = _post_run(http, alice, dict(body, stages=[{"name": "a", "actor": "nobody"}]))
    assert missing.status_code == 404
    cycle = _post_run(http, alice, dict(body, stages=[
        {"name": "a", "actor": mine, "needs": ["b"]}, {"name": "b", "actor": bobs,
                                                       "needs": ["a"]}]))
    assert cycle.status_code == 400 and "cycle: a -> b -> a" in cycle.json["message"]
    bad_item = _post_run(http, alice, dict(body, items=[{"X": {"nested": 1}}]))
    assert bad_item.status_code == 400 and "items" in bad_item.json["message"]
    created = _post_run(http, alice, body)
    assert created.status_code == 200, created.json
    run = created.json["result"]
    assert run["status"] == "RUNNING" and run["items_total"] == 1
    assert [s["name"] for s in run["stages"]] == ["a", "b"]
    assert run["_links"]["status"].endswith(f"/runs/{run['id']}/status")


def test_runs_are_visible_to_their_owner_and_admins_only(http, alice, config, store):
    actor = _register(http, alice)
    run = _post_run(http, alice, {"stages": [{"name": "a", "actor": actor}],
                                  "items": [{}]}).json["result"]
    assert http.get(f"/runs/{run['id']}", headers=alice).status_code == 200
    assert http.get(f"/runs/{run['id']}", headers=bearer(config, "bob")).status_code == 403
    other_tenant = {"Authorization": f"Bearer {mint(config, 'alice', tenant='other')}"}
    assert http.get(f"/runs/{run['id']}", headers=other_tenant).status_code == 404
    admin = bearer(config, "root", roles=("admin",))
    assert http.get(f"/runs/{run['id']}", headers=admin).status_code == 200
    assert [r["id"] for r in http.get("/runs", headers=alice).json["result"]] == [run["id"]]
    assert http.get("/runs", headers=bearer(config, "bob")).json["result"] == []
    assert [r["id"] for r in http.get("/runs", headers=admin).json["result"]] == [run["id"]]
    scoped = {"Authorization": f"Bearer {mint(config, 'alice', actor=actor)}"}
    assert http.get(f"/runs/{run['id']}", headers=scoped).status_code == 403
    assert http.get("/runs", headers=scoped).status_code == 403
    for method, path in (("delete", ""), ("post", "/rerun"), ("get", "/status"),
                         ("get", "/outputs")):
        answer = getattr(http, method)(f"/runs/{run['id']}{path}", headers=bearer(config, "bob"))
        assert answer.status_code == 403, (method, path)


def test_the_api_pages_items_and_the_feed_and_answers_in_camel_case(config, store, tmp_path):
    camel = create_app(config.with_overrides(case="camel"), store).test_client()
    alice = bearer(config)
    actor = camel.post("/actors", json={"image": "x"}, headers=alice).json["result"]["id"]
    run = camel.post("/runs", json={"stages": [{"name": "a", "actor": actor,
                                                "env": {"my_var": "1"}}],
                                    "items": [{"studentId": "s1"}, {"studentId": "s2"}]},
                     headers=alice).json["result"]
    assert run["itemsTotal"] == 2 and run["stages"][0]["env"] == {"my_var": "1"}
    page = camel.get(f"/runs/{run['id']}?offset=1&limit=1", headers=alice).json["result"]
    assert [i["index"] for i in page["items"]] == [1]
    assert page["items"][0]["env"] == {"studentId": "s2"}
    stage = page["items"][0]["stages"][0]
    assert stage["status"] == "QUEUED" and stage["executionId"] is None  # not yet submitted
    feed = camel.get(f"/runs/{run['id']}/status", headers=alice).json["result"]
    assert feed["events"][0]["type"] == "RUN_ACCEPTED" and feed["cursor"] == 1
    assert feed["final"] is False


def test_cancel_and_rerun_over_http(http, alice, store):
    actor = _register(http, alice)
    store.actors.set_status(actor, ActorStatus.READY)
    run = _post_run(http, alice, {"stages": [{"name": "a", "actor": actor}],
                                  "items": [{}, {}]}).json["result"]
    busy = http.post(f"/runs/{run['id']}/rerun", json={}, headers=alice)
    assert busy.status_code == 409 and "still running" in busy.json["message"]
    store.runs.submit_fresh(run["id"])
    cancelled = http.delete(f"/runs/{run['id']}", headers=alice)
    assert cancelled.status_code == 200 and "2 queued execution(s) cancelled" in \
        cancelled.json["message"]
    assert cancelled.json["result"]["status"] == "CANCELLED"
    bad = http.post(f"/runs/{run['id']}/rerun", json={"items": [5]}, headers=alice)
    assert bad.status_code == 400 and "no item 5" in bad.json["message"]
    unknown = http.post(f"/runs/{run['id']}/rerun", json={"stages": ["zz"]}, headers=alice)
    assert unknown.status_code == 400 and "No stage zz" in unknown.json["message"]
    again = http.post(f"/runs/{run['id']}/rerun", json={"items": [1]}, headers=alice)
    assert again.status_code == 200 and again.json["result"]["status"] == "RUNNING"
    run_now = http.get(f"/runs/{run['id']}", headers=alice).json["result"]
    assert [i["stages"][0]["status"] for i in run_now["items"]] == ["CANCELLED", "QUEUED"]


# -- a spawner on the stub runtime: inputs, refusals, the zip -----------------------------
class PipelineRuntime(StubRuntime):
    """Writes each execution's outputs as ``write(spec)`` says, exits with ``exit(spec)``,
    and remembers what each saw in /_abaco_inputs."""

    def __init__(self, write, exit=lambda spec: 0):
        super().__init__()
        self.write, self.exit = write, exit
        self.seen = {}

    def start(self, spec):
        mounts = {m.target: m for m in spec.mounts}
        inputs = mounts.get("/_abaco_inputs")
        if inputs is not None:
            assert inputs.read_only
            root = Path(inputs.source)
            self.seen[spec.labels["actors.execution"]] = {
                str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
                if p.is_file()}
        for path, text in self.write(spec).items():
            target = Path(mounts["/_abaco_outputs"].source) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        handle = StubHandle(spec, self.logs, self.exit(spec), self.usage)
        self.started.append(handle)
        return handle


@pytest.fixture
def pipeline(config, store, tmp_path, monkeypatch):
    from spawner import runner

    monkeypatch.setattr(runner, "WAIT_STEP", 0.02)

    def write(spec):
        env = spec.environment
        if env["_abaco_run_stage"] == "compile":
            return {"binary.txt": f"compiled {env['STUDENT']}\n"}
        return {"score.txt": "100\n"} if env["_abaco_run_stage"] == "test" else {}

    runtime = PipelineRuntime(write, exit=lambda spec: int(spec.environment.get("BROKEN", "0")))
    context = runner.SpawnerContext(
        config.with_overrides(spawner_workdir=str(tmp_path / "work"),
                              artifact_url=str(tmp_path / "artifacts")),
        store, runtime, name="s1", queues=["default"])
    return context, runtime


def _drain_all(context, store):
    while True:
        busy = [a for a in store.executions.actors_with_mail() if store.executions.has_waiting(a)]
        if not busy:
            return
        for actor_id in busy:
            context.drain(actor_id)


def test_a_stage_reads_what_it_needs_at_abaco_inputs_and_finally_reads_every_item(
        pipeline, store, tmp_path):
    context, runtime = pipeline
    _actors(store, "A", "B", "F")
    run_id = _create(store, [_stage("compile", actor="A"), _stage("test", "compile", actor="B")],
                     [{"STUDENT": "ann"}, {"STUDENT": "bob", "BROKEN": "2"}, {"STUDENT": "cy"}],
                     final=_stage("grade", "test", actor="F"))
    _drain_all(context, store)
    run = store.runs.get(run_id, 0, 10)
    assert run["status"] == "FAILED" and run["finally"]["status"] == "SUCCEEDED"
    test_of_ann = run["items"][0]["stages"][1]["execution_id"]
    assert runtime.seen[test_of_ann] == {"compile/binary.txt": "compiled ann\n"}
    grade = runtime.seen[run["finally"]["execution_id"]]
    assert set(grade) == {"test/0/score.txt", "test/2/score.txt", "_run/summary.json"}
    summary = json.loads(grade["_run/summary.json"])
    assert [i["status"] for i in summary["items"]] == ["COMPLETE", "FAILED", "COMPLETE"]
    assert summary["items"][1]["env"] == {"STUDENT": "bob", "BROKEN": "2"}
    assert summary["items"][1]["stages"][0]["exit_code"] == 2
    for handle in runtime.started:  # the inputs folder went with the workdir
        assert not Path(handle.spec.workdir).exists()

    http = create_app(context.config, store).test_client()
    answer = http.get(f"/runs/{run_id}/outputs", headers=bearer(context.config))
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    names = set(archive.namelist())
    assert {"run.json", "items/0/compile/outputs/binary.txt", "items/0/test/outputs/score.txt",
            "items/1/compile/logs.txt", "finally/grade/logs.txt"} <= names
    assert "items/1/test/logs.txt" not in names  # skipped: it never ran
    assert archive.read("items/2/compile/outputs/binary.txt") == b"compiled cy\n"
    assert json.loads(archive.read("run.json"))["items"][1]["stages"][1]["status"] == "SKIPPED"


def test_a_retried_stage_follows_its_last_try_and_the_run_goes_on(pipeline, store):
    from spawner import retries

    context, runtime = pipeline
    _actors(store, "A", "B")
    store.actors.update("A", max_retries=2, retry_backoff=0, retry_on_exit_code=True)
    tries = []
    runtime.exit = lambda spec: (tries.append((spec.environment["_abaco_run_stage"],
                                               spec.environment["_abaco_run_attempt"])),
                                 1 if len(tries) == 1 else 0)[1]
    run_id = _create(store, [_stage("compile", actor="A"), _stage("test", "compile", actor="B")],
                     [{"STUDENT": "ann"}])
    context.drain("A")
    first = store.runs.get(run_id, 0, 1)["items"][0]["stages"][0]
    assert first["status"] == "QUEUED"  # not FAILED: its retry decides
    failed = store.executions.get_internal(runtime.started[0].spec.labels["actors.execution"])
    assert failed["exit_code"] == 1 and failed["retried_by"] == first["execution_id"]
    assert store.executions.get(first["execution_id"]) is None  # due, not made yet
    assert retries.release_due(store) == [first["execution_id"]]
    retry = store.executions.get_internal(first["execution_id"])
    assert (retry["run_id"], retry["run_item"], retry["run_stage"]) == (run_id, 0, "compile")
    _drain_all(context, store)
    run = store.runs.get(run_id, 0, 1)
    assert [s["status"] for s in run["items"][0]["stages"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert run["status"] == "COMPLETE"
    assert tries == [("compile", "1"), ("compile", "2"), ("test", "1")]


def test_a_cancelled_runs_queued_execution_ends_without_starting(pipeline, store):
    context, runtime = pipeline
    _actors(store, "A")
    run_id = _create(store, [_stage("compile", actor="A")], [{"STUDENT": "x"}])
    store.redis.hset(keys.run(run_id), "cancel_requested", "true")  # cancelled meanwhile
    _drain_all(context, store)
    assert runtime.started == []
    execution = store.executions.get(store.runs.get(run_id, 0, 1)["items"][0]["stages"][0]
                                     ["execution_id"])
    assert execution["status"] == "COMPLETE" and execution["exit_code"] is None
    assert execution["status_message"] == "Not started: its run was cancelled."


def test_an_input_that_is_gone_fails_the_stage_with_the_reason(pipeline, store, tmp_path):
    context, runtime = pipeline
    _actors(store, "A", "B")
    run_id = _create(store, [_stage("compile", actor="A"), _stage("test", "compile", actor="B")],
                     [{"STUDENT": "x"}])
    context.drain("A")
    for root, dirs, files in os.walk(tmp_path / "artifacts"):
        for name in files:
            os.unlink(os.path.join(root, name))
    context.drain("B")
    test = store.runs.get(run_id, 0, 1)["items"][0]["stages"][1]
    assert test["status"] == "FAILED" and "compile" in test["reason"]
    assert "no longer kept" in test["reason"]


def test_the_sweep_and_the_job_submit_through_spawner_runs(store):
    _actors(store, "A")
    checked = plan([_stage("a", actor="A")])
    store.runs.create("Rjob", "default", "alice", checked, [{}, {}], ["default"])
    assert spawner_runs.advance(store, "Rjob") == 2
    spawner_runs.sweep(store)  # nothing due: a no-op
    assert store.redis.zcard(keys.mailbox("A")) == 2


# -- the Python client and the CLI over HTTP (fakeredis behind the API) ---------------------
@pytest.fixture
def served(app):
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_client_and_the_cli_drive_a_run(served, config, store, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from actors_cli.main import main
    from runtime_sdk.client import Client

    token = mint(config, "alice")
    client = Client(served, token, timeout=10)
    actor = client.actors.create("actors/echo")
    store.actors.set_status(actor.id, ActorStatus.READY)
    run = client.runs.create([{"name": "a", "actor": actor.id}], [{"N": "0"}, {"N": "1"}],
                             env={"ALL": "x"}, final={"name": "f", "actor": actor.id})
    assert run.status == "RUNNING" and [r.id for r in client.runs.list()] == [run.id]
    with pytest.raises(TimeoutError):
        run.wait(timeout=0.3, poll=0.1)
    store.runs.submit_fresh(run.id)
    _run_everything(store, decide=lambda r: 3 if r["environment"].get("N") == "1" else 0)
    assert run.wait(timeout=5).attrs["status"] == "FAILED"
    assert [i["status"] for i in run.items()] == ["COMPLETE", "FAILED"]
    assert run.execution(1, "a").reload().attrs["exit_code"] == 3
    assert run.execution("finally").reload().attrs["run_item"] == "finally"
    assert [e["type"] for e in run.follow()][-1] == "RUN_FAILED"
    names = zipfile.ZipFile(io.BytesIO(run.outputs())).namelist()
    assert "run.json" in names and "items/1/a/logs.txt" in names

    monkeypatch.setenv("ACTORS_URL", served)
    monkeypatch.setenv("ACTORS_TOKEN", token)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cli = CliRunner()
    shown = cli.invoke(main, ["run-status", run.id, "--items"])
    assert shown.exit_code == 0, shown.output
    assert "FAILED (3)" in shown.output and "N=1" in shown.output
    listed = cli.invoke(main, ["runs"])
    assert run.id in listed.output and "1/2" not in listed.output and "2/2" in listed.output
    followed = cli.invoke(main, ["run-status", run.id, "--follow"])
    assert followed.exit_code == 1 and "ended FAILED" in followed.output
    events = cli.invoke(main, ["run-status", run.id, "--events"])
    assert "Item 1, stage a failed: The execution exited with code 3." in events.output
    rerun = cli.invoke(main, ["run-rerun", run.id, "--item", "1"])
    assert rerun.exit_code == 0 and "Re-running 1 stage(s)" in rerun.output
    cancel = cli.invoke(main, ["run-cancel", run.id])
    assert cancel.exit_code == 0 and "Run cancelled" in cancel.output
    description = tmp_path / "run.json"
    description.write_text(json.dumps({"stages": [{"name": "a", "actor": actor.id}],
                                       "items": [{}]}))
    started = cli.invoke(main, ["run", str(description), "-q"])
    assert started.exit_code == 0 and len(started.output.strip()) == 13
    not_json = tmp_path / "bad.json"
    not_json.write_text("{")
    refused = cli.invoke(main, ["run", str(not_json)])
    assert refused.exit_code == 1 and "is not JSON" in refused.output
