"""`govhub demo`: the Guangzhou year, replayed through govhub's own HTTP APIs."""
