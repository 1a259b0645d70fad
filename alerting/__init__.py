"""slaguard alerting."""
