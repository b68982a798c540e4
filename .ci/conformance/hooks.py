"""Schemathesis hooks for `cargo xtask conformance`.

One check replaces Schemathesis's `positive_data_acceptance`: a request the documents allow must
be accepted, except that a problem whose every entry is a rule JSON Schema cannot state is the
documented answer. Those rules are `reference` (422: a reference field names a row that does not
exist), `key` (422: a replace's body names another key than its path) and `cursor` (400: a list
cursor the server did not sign). Every other refusal of schema-valid data still fails the run.
"""

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

UNSTATABLE_RULES = {"reference", "key", "cursor"}


def _only_unstatable_rules(response) -> bool:
    if response.status_code not in (400, 422):
        return False
    try:
        errors = response.json().get("errors") or []
    except Exception:  # noqa: BLE001 - a body that is not JSON is judged by the original check
        return False
    return bool(errors) and all(entry.get("rule") in UNSTATABLE_RULES for entry in errors)


@schemathesis.check
def valid_data_accepted(ctx, response, case):
    if _only_unstatable_rules(response):
        return None
    return positive_data_acceptance(ctx, response, case)
