"""Schemathesis against the gateway's own OpenAPI document, over real HTTP: every generated
request gets a 2xx or a 4xx in the OpenAI error format; never a 5xx."""

from __future__ import annotations

import json

import pytest

schemathesis = pytest.importorskip("schemathesis")

from gateway.edge import openapi  # noqa: E402
from tests.procs import DEMO_KEY, Proc  # noqa: E402
from tests.test_fuzz import gateway  # noqa: E402,F401  (the module's running gateway fixture)

schema = schemathesis.openapi.from_dict(openapi.document())


@schema.parametrize()
@pytest.mark.filterwarnings("ignore")
def test_api_answers_within_its_contract(case, gateway: Proc) -> None:  # noqa: F811
    response = case.call(base_url=gateway.url, headers={"authorization": f"Bearer {DEMO_KEY}"}, timeout=30)
    assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        error = json.loads(response.text)["error"]
        assert set(error) == {"message", "type", "param", "code"}
