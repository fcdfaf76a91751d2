"""The OpenAPI document: generated from every route, valid, true to real answers, and served
with its docs page from this server only. (schemathesis drives the whole API against it in
tests/integration/test_schemathesis.py.)"""
from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from actors_api import create_app
from actors_api.openapi import OPERATIONS, build_spec

from .conftest import bearer


def _document(http) -> dict:
    response = http.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def _check(document: dict, path: str, method: str, answer, status: str = "200") -> None:
    """Validate a real answer against the document's schema for it."""
    response = document["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rpartition("/")[2]]
    registry = Registry().with_resource("urn:doc", Resource.from_contents(
        document, default_specification=DRAFT202012))
    schema = _rebase(response["content"]["application/json"]["schema"])
    errors = list(Draft202012Validator(schema, registry=registry).iter_errors(answer))
    assert not errors, [e.message for e in errors]


def _rebase(node):
    """Point the document's local references at the registered document."""
    if isinstance(node, dict):
        return {k: ("urn:doc" + v if k == "$ref" and v.startswith("#") else _rebase(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


@pytest.mark.parametrize("case", ["snake", "camel"])
def test_the_document_is_valid_and_covers_every_route(config, store, case):
    app = create_app(config.with_overrides(case=case), store)
    document = build_spec(app)
    validate(document)
    documented = {(path, method) for path, item in document["paths"].items() for method in item
                  if method in ("get", "post", "put", "delete")}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if rule.endpoint == "search.search":
                assert ("/actors/search/executions", method.lower()) in documented
            else:
                assert (path, method.lower()) in documented, (path, method)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(OPERATIONS) <= endpoints, set(OPERATIONS) - endpoints


def test_a_route_without_an_entry_is_refused(app):
    @app.get("/actors/undocumented")
    def undocumented():
        return "no"

    with pytest.raises(LookupError, match="undocumented"):
        build_spec(app)


def test_the_document_describes_bodies_envelopes_and_errors(http):
    document = _document(http)
    post = document["paths"]["/actors/{actor_id}/messages"]["post"]
    assert set(post["requestBody"]["content"]) == {
        "application/x-www-form-urlencoded", "application/json", "application/octet-stream",
        "text/plain"}
    assert {"400", "401", "403", "404", "408", "413"} <= set(post["responses"])
    envelope = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert envelope["required"] == ["message", "result", "status", "version"]
    register = document["paths"]["/actors"]["post"]["requestBody"]["content"]
    assert register["application/json"]["schema"]["$ref"].endswith("/ActorRequest")
    form = document["components"]["schemas"]["ActorRequestForm"]["properties"]
    assert form["default_environment"]["contentMediaType"] == "application/json"
    assert document["components"]["schemas"]["Error"]["properties"]["result"] == {"type": "null"}
    # Links lead from a create to the operations that use what it made.
    links = document["paths"]["/actors"]["post"]["responses"]["200"]["links"]
    assert links["actors_get_actor"]["parameters"]["actor_id"] == "$response.body#/result/id"


def test_camel_case_documents_the_keys_camel_case_sends(config, store):
    app = create_app(config.with_overrides(case="camel"), store)
    alice = bearer(config)
    http = app.test_client()
    document = _document(http)
    actor = document["components"]["schemas"]["ActorRecord"]["properties"]
    assert "defaultEnvironment" in actor and "default_environment" not in actor
    assert "maxWorkers" in document["components"]["schemas"]["ActorRequest"]["properties"]
    created = http.post("/actors", json={"image": "x/y", "defaultEnvironment": {"MY_VAR": "1"}},
                        headers=alice)
    _check(document, "/actors", "post", created.json)
    assert created.json["result"]["defaultEnvironment"] == {"MY_VAR": "1"}  # user keys kept


def test_real_answers_match_the_document(http, alice):
    document = _document(http)
    created = http.post("/actors", json={"image": "x/y", "stateless": False, "hints": ["a"]},
                        headers=alice)
    _check(document, "/actors", "post", created.json)
    actor_id = created.json["result"]["id"]
    sent = http.post(f"/actors/{actor_id}/messages", data={"message": "hi"}, headers=alice)
    _check(document, "/actors/{actor_id}/messages", "post", sent.json)
    execution_id = sent.json["result"]["execution_id"]
    for path, url in [
            ("/actors/{actor_id}", f"/actors/{actor_id}"),
            ("/actors/{actor_id}/executions", f"/actors/{actor_id}/executions"),
            ("/actors/{actor_id}/executions/{execution_id}",
             f"/actors/{actor_id}/executions/{execution_id}"),
            ("/actors/{actor_id}/executions/{execution_id}/logs",
             f"/actors/{actor_id}/executions/{execution_id}/logs"),
            ("/actors/{actor_id}/state", f"/actors/{actor_id}/state"),
            ("/actors/{actor_id}/permissions", f"/actors/{actor_id}/permissions"),
            ("/actors/search/executions", "/actors/search/executions?status.in=SUBMITTED"),
            ("/actors/utilization", "/actors/utilization")]:
        answer = http.get(url, headers=alice)
        assert answer.status_code == 200, (url, answer.json)
        _check(document, path, "get", answer.json)
    refused = http.get("/actors/nope", headers=alice)
    _check(document, "/actors/{actor_id}", "get", refused.json, "404")
    conflict = http.put(f"/actors/{actor_id}", json={"image": "x/y"}, headers=alice)
    assert conflict.status_code == 409
    _check(document, "/actors/{actor_id}", "put", conflict.json, "409")


def test_docs_page_is_served_from_this_server(http):
    page = http.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/docs/") for a in assets), assets
    assert 'data-spec-url="/openapi.json"' in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
    for asset in assets:
        answer = http.get(asset)
        assert answer.status_code == 200 and answer.data, asset
    bundle = http.get("/docs/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.data
    assert http.get("/docs/no-such-file.js").status_code == 404


def test_only_the_document_docs_and_metrics_are_public(http):
    for url in ("/openapi.json", "/docs", "/docs/swagger-ui.css", "/metrics"):
        assert http.get(url).status_code == 200, url
    assert http.get("/actors").status_code == 401
    assert http.get("/actors/utilization").status_code == 401


def test_an_actor_id_is_never_a_routed_word(http, alice):
    """PUT /actors/aliases is a 405 (the aliases collection), not a search for an actor."""
    answer = http.put("/actors/aliases", json={}, headers=alice)
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]
    assert http.post("/actors/admin/workers", headers=alice).status_code == 405
