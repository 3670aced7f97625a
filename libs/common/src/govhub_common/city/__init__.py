"""A city as files: agencies, clients, topics, subscriptions, registry mappings, alert rules
and SMS templates described as YAML documents, applied to a running hub through its public
APIs (`govhub apply`) and written from one (`govhub export`). docs/city.md describes it.

Only HTTP: nothing here imports a service package."""
