"""OpenSLO v1 in and out: :mod:`openslo.model` (the go-sdk's rules as pydantic models),
:mod:`openslo.documents` (reading multi-document files, errors by document and field),
:mod:`openslo.importer` (onto ``slos[].objective`` and the configuration) and
:mod:`openslo.exporter` (every service and objective, and Sloth ``prometheus/v1``)."""
