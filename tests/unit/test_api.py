"""The HTTP contract: envelope, validation, auth, casing, CORS."""
from __future__ import annotations

from actors_api import create_app

from .conftest import bearer


def _create(http, headers, **fields):
    response = http.post("/actors", data={"image": "actors/echo", **fields}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["result"]


def test_register_with_form_fields_including_a_json_dict(http, alice):
    actor = _create(http, alice, default_environment='{"A": "1"}', stateless="false",
                    hints="x,y", description="d")
    assert actor["default_environment"] == {"A": "1"}
    assert actor["stateless"] is False and actor["hints"] == ["x", "y"]
    assert actor["status"] == "SUBMITTED" and actor["revision"] == 1 and actor["owner"] == "alice"
    assert actor["create_time"].endswith("Z") and len(actor["id"]) == 13


def test_envelope_on_success_and_error(http, alice):
    body = http.get("/actors", headers=alice).json
    assert set(body) == {"message", "result", "status", "version"} and body["status"] == "success"
    body = http.get("/actors/nope", headers=alice).json
    assert body["status"] == "error" and body["result"] is None and "nope" in body["message"]


def test_bad_actor_descriptions_are_400_naming_the_problem(http, alice):
    cases = [
        ({"stateless": "maybe"}, "stateless"),
        ({"default_environment": "[1, 2]"}, "default_environment"),
        ({"default_environment": '{"A": 1}'}, "default_environment"),
        ({"unknown_field": "1"}, "unknown_field"),
        ({"log_ex": "soon"}, "log_ex"),
    ]
    for fields, named in cases:
        response = http.post("/actors", data={"image": "x", **fields}, headers=alice)
        assert response.status_code == 400, fields
        assert named in response.json["message"], response.json["message"]
    response = http.post("/actors", data={"description": "no image"}, headers=alice)
    assert response.status_code == 400 and "image" in response.json["message"]
    response = http.post("/actors", json={"image": "x", "stateless": False, "max_workers": 3},
                         headers=bearer(http.application.config["ACTORS"], roles=("admin",)))
    assert response.status_code == 400 and "max_workers" in response.json["message"]


def test_only_privileged_users_raise_resources(http, alice, config):
    for field, value in (("privileged", "true"), ("max_workers", "3"), ("mem_limit", "1g"),
                         ("max_cpus", "2"), ("queue", "special")):
        response = http.post("/actors", data={"image": "x", field: value}, headers=alice)
        assert response.status_code == 403 and field in response.json["message"]
    privileged = bearer(config, "pat", roles=("privileged",))
    actor = _create(http, privileged, mem_limit="1g", max_cpus="1000000000", queue="special")
    assert actor["mem_limit"] == "1g" and actor["max_cpus"] == 1.0  # Abaco's nanoCPUs read as CPUs
    assert _create(http, alice, queue="default")["queue"] == "default"


def test_owner_only_access_and_admin_sees_all(http, alice, config):
    actor = _create(http, alice)
    bob = bearer(config, "bob")
    assert http.get(f"/actors/{actor['id']}", headers=bob).status_code == 403
    assert http.get("/actors", headers=bob).json["result"] == []
    admin = bearer(config, "root", roles=("admin",))
    assert [a["id"] for a in http.get("/actors", headers=admin).json["result"]] == [actor["id"]]


def test_execution_token_reaches_only_its_actor(http, alice, config):
    from actors_core.tokens import mint

    mine, other = _create(http, alice), _create(http, alice)
    scoped = {"Authorization": f"Bearer {mint(config, 'alice', actor=mine['id'])}"}
    assert http.get(f"/actors/{mine['id']}", headers=scoped).status_code == 200
    assert http.get(f"/actors/{other['id']}", headers=scoped).status_code == 403
    assert http.post("/actors", data={"image": "x"}, headers=scoped).status_code == 403


def test_put_replaces_and_bumps_revision_on_new_image(http, alice):
    actor = _create(http, alice, description="old")
    same = http.put(f"/actors/{actor['id']}", data={"image": "actors/echo"}, headers=alice).json["result"]
    assert same["revision"] == 1 and same["description"] == ""
    new = http.put(f"/actors/{actor['id']}", data={"image": "actors/other"}, headers=alice).json["result"]
    assert new["revision"] == 2 and new["status"] == "SUBMITTED"


def test_messages_count_cancel_and_executions_summary(http, alice):
    actor = _create(http, alice)
    sent = [http.post(f"/actors/{actor['id']}/messages?K=v", data={"message": f"m{n}"},
                      headers=alice).json["result"] for n in range(3)]
    assert sent[0]["msg"] == "m0" and sent[0]["execution_id"]
    assert http.get(f"/actors/{actor['id']}/messages", headers=alice).json["result"]["messages"] == 3
    first = sent[0]["execution_id"]
    response = http.delete(f"/actors/{actor['id']}/executions/{first}", headers=alice)
    assert response.json["result"]["status"] == "COMPLETE"
    summary = http.get(f"/actors/{actor['id']}/executions", headers=alice).json["result"]
    assert summary["ids"] == [s["execution_id"] for s in sent]
    assert [e["status"] for e in summary["executions"]] == ["COMPLETE", "SUBMITTED", "SUBMITTED"]
    assert http.get(f"/actors/{actor['id']}/messages", headers=alice).json["result"]["messages"] == 2
    execution = http.get(f"/actors/{actor['id']}/executions/{sent[1]['execution_id']}",
                         headers=alice).json["result"]
    assert "environment" not in execution and "sequence" not in execution
    assert execution["executor"] == "alice" and execution["content_type"] == "str"


def test_binary_and_json_messages(http, alice):
    actor = _create(http, alice)
    binary = http.post(f"/actors/{actor['id']}/messages", data=b"\x00\x01",
                       content_type="application/octet-stream", headers=alice).json["result"]
    assert binary["msg"] == "binary - omitted"
    as_json = http.post(f"/actors/{actor['id']}/messages", json={"a": [1]}, headers=alice).json["result"]
    assert as_json["msg"] == '{"a": [1]}'


def test_message_size_limit(config, store, alice):
    app = create_app(config.with_overrides(max_message_bytes=1024), store)
    http = app.test_client()
    actor = _create(http, alice)
    response = http.post(f"/actors/{actor['id']}/messages", data=b"x" * 2048,
                         content_type="application/octet-stream", headers=alice)
    assert response.status_code == 413 and response.json["status"] == "error"
    assert http.get(f"/actors/{actor['id']}/messages", headers=alice).json["result"]["messages"] == 0


def test_camel_case_mode(config, store, alice):
    http = create_app(config.with_overrides(case="camel"), store).test_client()
    response = http.post("/actors", json={"image": "x", "defaultEnvironment": {"MY_VAR": "1"}},
                         headers=alice)
    actor = response.json["result"]
    assert actor["defaultEnvironment"] == {"MY_VAR": "1"}  # user keys keep their spelling
    assert "createTime" in actor and "create_time" not in actor
    sent = http.post(f"/actors/{actor['id']}/messages", data={"message": "m"}, headers=alice)
    assert "executionId" in sent.json["result"]


def test_unknown_routes_wrong_methods_and_cors(http, alice):
    assert http.get("/nothing", headers=alice).json["status"] == "error"
    response = http.patch("/actors", headers=alice)
    assert response.status_code == 405 and response.json["status"] == "error"
    preflight = http.options("/actors/abc/messages")
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_state_needs_a_stateful_actor(http, alice):
    stateless = _create(http, alice)
    assert http.post(f"/actors/{stateless['id']}/state", json=1, headers=alice).status_code == 409
    stateful = _create(http, alice, stateless="false")
    assert http.post(f"/actors/{stateful['id']}/state", json=[1, 2], headers=alice).json["result"] == {"state": [1, 2]}
    assert http.post(f"/actors/{stateful['id']}/state", data="null", content_type="application/json",
                     headers=alice).json["result"] == {"state": None}


def test_a_text_message_too_long_for_msg_is_refused_at_the_door(http, alice):
    """MSG is an environment variable: Linux caps "MSG=<message>" and its NUL at 131072 bytes."""
    from actors_api.routes.messages import MAX_TEXT_MESSAGE_BYTES

    assert MAX_TEXT_MESSAGE_BYTES == 131067
    actor = _create(http, alice)
    path = f"/actors/{actor['id']}/messages"
    largest = "x" * MAX_TEXT_MESSAGE_BYTES
    assert http.post(path, data={"message": largest}, headers=alice).status_code == 200
    for kwargs in ({"data": {"message": largest + "x"}},
                   {"data": '"' + "y" * MAX_TEXT_MESSAGE_BYTES + '"', "content_type": "application/json"},
                   {"data": ("é" * (MAX_TEXT_MESSAGE_BYTES // 2 + 1)).encode(), "content_type": "text/plain"}):
        response = http.post(path, headers=alice, **kwargs)
        assert response.status_code == 413, response.json
        message = response.json["message"]
        assert "MSG environment variable" in message and "binary" in message
        assert "application/octet-stream" in message
    assert http.get(path, headers=alice).json["result"]["messages"] == 1  # nothing else accepted
    binary = http.post(path, data=b"z" * 200_000, content_type="application/octet-stream",
                       headers=alice)
    assert binary.status_code == 200  # a FIFO has no such limit
    too_long_variable = http.post(f"{path}?BIG={'v' * 131072}",
                                  data={"message": "m"}, headers=alice)
    assert too_long_variable.status_code == 413 and "'BIG'" in too_long_variable.json["message"]
