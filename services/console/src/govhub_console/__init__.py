"""govhub console: server-rendered pages over the services' public APIs."""
