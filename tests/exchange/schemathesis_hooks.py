"""schemathesis hooks for the fuzz test (schemathesis.toml names this file): the exchange's
publish body is also NDJSON (`application/x-ndjson`, a string of format binary in the
document), which schemathesis sends as the bytes it generates, as for octet-stream."""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "application/octet-stream")
