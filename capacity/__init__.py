"""The capacity job: load tests run on purpose (issue 18).

``locustfile`` generates the self-contained locustfile from a job; ``runner`` runs
Locust headless in its own processes (one run at a time, kill switch, abort rules,
generator saturation) and writes the record; ``record`` and ``windows`` are the pure
parts (figures, thresholds, verdicts; flagging what probes saw during a run);
``store`` keeps one JSON document per run; ``job`` starts due jobs on their cron;
``api``, ``page`` and ``report`` show them.
"""
