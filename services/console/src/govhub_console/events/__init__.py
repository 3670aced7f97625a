"""Events across the services: status, dead letters and re-drive (operators)."""
