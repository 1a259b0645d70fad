"""slaguard grafana."""
