"""Schema-based fuzzing of a real server from its own OpenAPI description (bounded for CI):
whatever is sent, no 5xx except 503/429 with ``Retry-After``, every answer as described, and
no traceback in the server's log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from harness import Site, pg_schema_url, start_site
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    status_code_conformance,
)

FUZZ_EXAMPLES = 25


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("fuzz")
    # --auth-failures 0: the fuzzer's wrong keys must not throttle the right one
    if request.param == "sqlite":
        yield from start_site(f"sqlite:///{tmp / 'events.db'}", tmp, "--auth-failures", "0")
        return
    for db in pg_schema_url():
        yield from start_site(db, tmp, "--auth-failures", "0")


def test_no_server_error_whatever_is_sent(fuzzed: Site) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed.server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=fuzzed.server.url, headers={"Authorization": fuzzed.key}, timeout=30)
            status = response.status_code
            assert status < 500 or status == 503, f"{status} for {case.method} {case.path}: {response.text[:300]}"
            if status in (429, 503):
                assert int(response.headers["Retry-After"][0]) > 0
            case.validate_response(
                response,
                checks=[status_code_conformance, content_type_conformance, response_headers_conformance],
            )

        check()


def test_the_fuzzed_server_logged_no_traceback(fuzzed: Site) -> None:
    log = Path(fuzzed.server.log).read_text()
    assert "Traceback" not in log
