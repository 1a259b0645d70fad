"""OpenSLO v1 in and out: placeholder; the importer and exporter land here."""
