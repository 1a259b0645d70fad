"""slaguard: SLA-compliance monitoring with exact accounting."""

__version__ = "0.1.0"
