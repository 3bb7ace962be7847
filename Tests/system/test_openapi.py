"""The gateway's /openapi.json: a valid OpenAPI 3 document, and the API it describes answers as it
says — schemathesis generates requests for every route (authenticated, a bounded number each) and
checks that none is a 500 and that every answer matches its documented status and schema."""
import uuid

import pytest
import requests
import schemathesis
from schemathesis import checks
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate


def test_the_served_document_is_valid_openapi(system):
    answer = requests.get(system.url + "/openapi.json", timeout=10)
    assert answer.status_code == 200
    document = answer.json()
    validate(document)
    routes = [(verb.upper(), path) for path, item in document["paths"].items() for verb in item]
    assert ("POST", "/v1/orders") in routes and ("PATCH", "/v1/users/me") in routes
    assert not any("MarkOrder" in path or "GetUser" in path for _, path in routes)


@pytest.fixture(scope="session")
def authorization(system):
    return system.sign_up("fuzz")


# The document states types, not the services' rules (lengths, required fields, currencies),
# as grpc-gateway's does not: so a request it allows may still be refused with a 400, and one
# it forbids may be accepted. What is checked is what the document promises of the answers.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]


def test_every_route_answers_as_documented(system, authorization):
    """Schemathesis's checks on generated requests, route by route (driven through Hypothesis
    directly: schemathesis's pytest plugin does not run under this pytest)."""
    api = schemathesis.openapi.from_url(system.url + "/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 11
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):
            case.call_and_validate(headers={"Authorization": authorization, "Idempotency-Key": str(uuid.uuid4())},
                                   checks=CHECKS, timeout=15)

        try:
            answers_as_documented()
        except Exception as error:
            raise AssertionError(f"{operation.label}: {error}\n{system.logs()[-4000:]}") from error
