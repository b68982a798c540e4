"""Schemathesis hooks for `cargo xtask conformance`.

One check replaces Schemathesis's `positive_data_acceptance`: a request the documents allow must
be accepted, except that a problem whose every entry is a rule JSON Schema cannot state is the
documented answer. Those rules are `reference` (422: a reference field names a row that does not
exist), `key` (422: a replace's body names another key than its path), `cursor` (400: a list
cursor the server did not sign), `subset` (422: an API key's roles must be roles its creator
holds) and `future` (422: an expiry must be after the moment of the request). Two refusals of
the login module are of the same kind and named by operation: a confirmation token or a
sign-in exchange or link code the server did not issue (`POST /auth/confirm`, `POST
/auth/oauth/exchange`, `POST /auth/oauth/link/confirm`, 400), and a password shorter than the server's configured
minimum (`POST /auth/register`, 422 at `/password`; `POST /auth/password`, 422 at
`/new_password`), a setting the documents cannot know.
Every other refusal of schema-valid data still fails the run.

The run drives the JSON form of every operation. Request bodies also list the protobuf media
types (`application/x-protobuf`, `application/protobuf`), which Schemathesis has no serializer
for: they are taken out of the schema before it is loaded. Protobuf bodies and gRPC are tested
over HTTP by `tests/tests/wire` and from outside by `cargo xtask grpc-check` (buf curl).
"""

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

PROTOBUF_TYPES = {"application/x-protobuf", "application/protobuf"}


@schemathesis.hook
def before_load_schema(context, raw_schema):
    for item in (raw_schema.get("paths") or {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            content = (operation.get("requestBody") or {}).get("content") or {}
            for media_type in PROTOBUF_TYPES:
                content.pop(media_type, None)


UNSTATABLE_RULES = {"reference", "key", "cursor", "subset", "future"}


# Bodies carrying a one-time secret only the server issues: any other value is a 400.
SERVER_ISSUED = {"/auth/confirm", "/auth/oauth/exchange", "/auth/oauth/link/confirm"}


# The configured password minimum: (path, pointer) of each body that carries a new password.
NEW_PASSWORDS = {("/auth/register", "/password"), ("/auth/password", "/new_password")}


def _unstatable(case, entry) -> bool:
    if entry.get("rule") in UNSTATABLE_RULES:
        return True
    return (
        case.method.upper() == "POST"
        and (case.path, entry.get("pointer")) in NEW_PASSWORDS
        and entry.get("rule") == "min_length"
    )


def _only_unstatable_rules(case, response) -> bool:
    if response.status_code not in (400, 422):
        return False
    if response.status_code == 400 and case.method.upper() == "POST" and case.path in SERVER_ISSUED:
        return True
    try:
        errors = response.json().get("errors") or []
    except Exception:  # noqa: BLE001 - a body that is not JSON is judged by the original check
        return False
    return bool(errors) and all(_unstatable(case, entry) for entry in errors)


@schemathesis.check
def valid_data_accepted(ctx, response, case):
    if _only_unstatable_rules(case, response):
        return None
    return positive_data_acceptance(ctx, response, case)
