"""The API against its own OpenAPI document: schemathesis drives the running API (real
redis-server, real HTTP) from /openapi.json, in snake_case and in camelCase.

What must hold, for every operation and every generated request: no 5xx; the status code,
content type, headers and body of each answer are those the document gives; requests the
document calls valid are accepted; an undeclared method is a 405; no credentials is a 401.
Stateful sequences follow the document's links (create an actor, then send it messages,
read the execution...). The run is bounded by --max-examples and a fixed seed
(ACTORS_FUZZ_SEED and ACTORS_FUZZ_EXAMPLES change them).

Not checked: ``negative_data_rejection``: the server is more lenient than the document in
ways kept for Abaco clients (numbers and booleans given as text, e.g. ``max_workers="2"``,
``stateless=yes``), so some requests the document calls invalid are accepted.
``use_after_free``: Abaco's DELETE on an execution cancels or force-quits it and on a busy
worker asks it to stop; the record stays, as documented, which that check takes for a bug.
``ensure_resource_availability``: a 404 right after a create is read as "the created
resource is gone", but here it can name an actor the request body refers to (a config's
``actors``, an actor's ``link``), as the API has always answered.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import validate

from actors_core.tokens import mint

from .platform import ApiServer, platform_environment

SEED = os.environ.get("ACTORS_FUZZ_SEED", "20260517")
EXAMPLES = os.environ.get("ACTORS_FUZZ_EXAMPLES", "15")
CHECKS_LEFT_OUT = "negative_data_rejection,use_after_free,ensure_resource_availability"


def _schemathesis() -> str:
    return str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(params=["snake", "camel"])
def fuzzed_api(request, redis_server, tmp_path):
    database = {"snake": 1, "camel": 2}[request.param]
    url = redis_server.url.rsplit("/", 1)[0] + f"/{database}"
    environment = platform_environment(url, tmp_path, ACTORS_CASE=request.param,
                                       ACTORS_SYNC_TIMEOUT=1)
    server = ApiServer(environment)
    yield server
    server.stop()


def test_the_document_is_valid_openapi(fuzzed_api):
    document = requests.get(f"{fuzzed_api.url}/openapi.json", timeout=30).json()
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_the_api_conforms_to_its_document(fuzzed_api, tmp_path):
    token = mint(fuzzed_api.config, "fuzzer", roles=("admin",))
    command = [
        _schemathesis(), "run", f"{fuzzed_api.url}/openapi.json",
        "--checks", "all", "--exclude-checks", CHECKS_LEFT_OUT,
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1",
        "--request-timeout", "20", "--no-color", "--output-truncate", "true",
    ]
    environment = dict(os.environ, SCHEMATHESIS_HOOKS="tests.integration.schemathesis_hooks",
                       PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                         env=environment)
    report = run.stdout + run.stderr
    artifacts = Path(os.environ.get("ACTORS_ARTIFACTS_DIR", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / f"schemathesis-{fuzzed_api.config.case}.txt").write_text(report)
    assert run.returncode == 0, report[-20000:]
    assert "Tested: " in report and "Test cases:" in report, report[-5000:]
