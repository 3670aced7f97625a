"""Every problem code the hub answers with, its HTTP status and its meaning: one catalogue,
so a raise site names a code and the status follows (they cannot disagree)."""

from __future__ import annotations

from enum import StrEnum


class ProblemCode(StrEnum):
    """Every `code` a problem+json answer can carry. Its status and meaning: CATALOGUE."""

    # Generic
    VALIDATION_FAILED = "validation_failed"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_BODY = "malformed_body"
    NOT_AN_ARRAY = "not_an_array"
    INVALID_CURSOR = "invalid_cursor"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BODY_TOO_LARGE = "body_too_large"
    TOO_MANY_RECORDS = "too_many_records"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    HTTP_ERROR = "http_error"
    INTERNAL_ERROR = "internal_error"
    DATABASE_UNAVAILABLE = "database_unavailable"
    BROKER_UNAVAILABLE = "broker_unavailable"
    # Identity and access
    UNAUTHORIZED = "unauthorized"
    INVALID_CLIENT = "invalid_client"
    INVALID_SCOPE = "invalid_scope"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    IDENTITY_PROVIDER_UNAVAILABLE = "identity_provider_unavailable"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_REQUEST = "invalid_request"
    RATE_LIMITED = "rate_limited"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    FORBIDDEN = "forbidden"
    AGENCY_EXISTS = "agency_exists"
    CLIENT_EXISTS = "client_exists"
    UNKNOWN_AGENCY = "unknown_agency"
    # Catalog, subscriptions, delivery
    TOPIC_EXISTS = "topic_exists"
    INVALID_TOPIC_SCHEMA = "invalid_topic_schema"
    INCOMPATIBLE_SCHEMA_VERSION = "incompatible_schema_version"
    UNKNOWN_DATA_ITEMS = "unknown_data_items"
    NOT_PENDING = "not_pending"
    NOT_ACTIVE = "not_active"
    SUBSCRIPTION_NOT_ACTIVE = "subscription_not_active"
    RECORDS_ARCHIVED = "records_archived"
    NO_WEBHOOK = "no_webhook"
    # Registry
    UNMAPPABLE = "unmappable"
    CONFLICT_NOT_OPEN = "conflict_not_open"
    REVIEW_NOT_PENDING = "review_not_pending"
    # Alerting
    INVALID_RULE = "invalid_rule"
    RULE_EXISTS = "rule_exists"
    RULE_DISABLED = "rule_disabled"
    UNKNOWN_REFERENCE = "unknown_reference"
    INVALID_TRANSITION = "invalid_transition"
    # SMS
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"


CATALOGUE: dict[ProblemCode, tuple[int, str]] = {
    ProblemCode.VALIDATION_FAILED: (
        422,
        "A field is invalid; `errors` names each by its JSON path.",
    ),
    ProblemCode.MALFORMED_JSON: (400, "The body is not JSON."),
    ProblemCode.MALFORMED_BODY: (400, "The body cannot be read as the operation's format."),
    ProblemCode.NOT_AN_ARRAY: (400, "A batch body is not an array of records."),
    ProblemCode.INVALID_CURSOR: (400, "A pagination cursor was not given by this list."),
    ProblemCode.UNSUPPORTED_MEDIA_TYPE: (
        415,
        "The body's Content-Type is not one the operation takes.",
    ),
    ProblemCode.BODY_TOO_LARGE: (413, "The body is larger than the operation allows."),
    ProblemCode.TOO_MANY_RECORDS: (413, "A batch holds more records than one request may."),
    ProblemCode.NOT_FOUND: (404, "No such resource, or not one the caller may see."),
    ProblemCode.METHOD_NOT_ALLOWED: (
        405,
        "The path does not take this method; `Allow` lists those it does.",
    ),
    ProblemCode.CONFLICT: (409, "The resource's state forbids the change."),
    ProblemCode.HTTP_ERROR: (400, "The request could not be handled as sent."),
    ProblemCode.INTERNAL_ERROR: (500, "A fault of the hub's; it has been logged."),
    ProblemCode.DATABASE_UNAVAILABLE: (
        503,
        "The database is unreachable for now; retry after `Retry-After` seconds.",
    ),
    ProblemCode.BROKER_UNAVAILABLE: (
        503,
        "The message broker is unreachable for now; retry after `Retry-After` seconds.",
    ),
    ProblemCode.UNAUTHORIZED: (
        401,
        "No valid bearer token: missing, expired, or not signed by the hub.",
    ),
    ProblemCode.INVALID_CLIENT: (
        401,
        "The client id or secret is wrong, or the client or agency is disabled.",
    ),
    ProblemCode.INVALID_SCOPE: (400, "A requested scope is not granted to the client."),
    ProblemCode.INVALID_GRANT: (
        400,
        "A token exchange's subject token is refused (forged, expired, for another audience, "
        "or from no trusted issuer), or the person it names may not have a token (unknown "
        "or disabled agency, unknown role, sign-in too old); `detail` says which.",
    ),
    ProblemCode.UNAUTHORIZED_CLIENT: (
        400,
        "The client may not use this grant: only the console exchanges tokens, and the "
        "console gets no client_credentials token of its own.",
    ),
    ProblemCode.IDENTITY_PROVIDER_UNAVAILABLE: (
        503,
        "The city's identity provider (its discovery document or signing keys) could not "
        "be reached to verify an ID token; retry later.",
    ),
    ProblemCode.UNSUPPORTED_GRANT_TYPE: (
        400,
        "The grant type is neither client_credentials nor token exchange (RFC 8693).",
    ),
    ProblemCode.INVALID_REQUEST: (
        400,
        "The token request (or a form) is malformed: a field missing, repeated, too long, "
        "with a control character, or not UTF-8; `errors` names it.",
    ),
    ProblemCode.RATE_LIMITED: (
        429,
        "Too many failed attempts for this client or from this address; retry after "
        "`Retry-After` seconds.",
    ),
    ProblemCode.INSUFFICIENT_SCOPE: (403, "The token lacks every scope the operation accepts."),
    ProblemCode.FORBIDDEN: (403, "The caller's agency may not do this to this resource."),
    ProblemCode.AGENCY_EXISTS: (409, "An agency with this code exists."),
    ProblemCode.CLIENT_EXISTS: (409, "A client with this id exists."),
    ProblemCode.UNKNOWN_AGENCY: (422, "The named agency does not exist."),
    ProblemCode.TOPIC_EXISTS: (409, "A topic with this code exists."),
    ProblemCode.INVALID_TOPIC_SCHEMA: (422, "The topic's JSON Schema breaks the catalog's rules."),
    ProblemCode.INCOMPATIBLE_SCHEMA_VERSION: (
        422,
        "A new schema version drops or retypes a data item subscribers rely on.",
    ),
    ProblemCode.UNKNOWN_DATA_ITEMS: (422, "Requested data items are not in the topic."),
    ProblemCode.NOT_PENDING: (409, "The subscription request was already decided."),
    ProblemCode.NOT_ACTIVE: (
        409,
        "The subscription is not approved (pending, refused or revoked).",
    ),
    ProblemCode.SUBSCRIPTION_NOT_ACTIVE: (403, "Only approved subscriptions deliver."),
    ProblemCode.RECORDS_ARCHIVED: (
        410,
        "The cursor is before the live log: its records were archived (`archives`); read on "
        "from `live_from`.",
    ),
    ProblemCode.NO_WEBHOOK: (409, "The subscription has no webhook."),
    ProblemCode.UNMAPPABLE: (422, "The record cannot be mapped to a registry subject."),
    ProblemCode.CONFLICT_NOT_OPEN: (409, "The registry conflict was already settled."),
    ProblemCode.REVIEW_NOT_PENDING: (409, "The match review was already decided."),
    ProblemCode.INVALID_RULE: (422, "The rule breaks the rule language; `errors` says where."),
    ProblemCode.RULE_EXISTS: (409, "A rule with this id exists."),
    ProblemCode.RULE_DISABLED: (409, "The rule is disabled."),
    ProblemCode.UNKNOWN_REFERENCE: (
        422,
        "The rule names a topic, item or template the hub does not know.",
    ),
    ProblemCode.INVALID_TRANSITION: (409, "The warning's status does not allow this transition."),
    ProblemCode.IDEMPOTENCY_CONFLICT: (
        409,
        "The idempotency key was used for a different message.",
    ),
}
