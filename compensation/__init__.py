"""Compensation: statements (generation, freezing, reissue, the monthly job), their
archive, the claims workflow and its API, and the customer portal.

The pure credit arithmetic is ``slo.compensation`` and ``slo.statement``; the
renderers are ``exporters.statement_*``.
"""
