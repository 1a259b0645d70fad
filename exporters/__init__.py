"""slaguard exporters."""
