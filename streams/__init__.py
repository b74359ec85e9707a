"""affectwatch's application package, laid out as a functional core with adapters around it.

- ``core``: records, scoring, groups, topics, event-time windows, divergence,
  figures and the pipeline that strings them together; pure, shared by both runners.
- ``dike``: DIKE's math (emotion spectra, behavior levels, Γ, guardrails); the core uses it.
- ``embedded``: the in-process runner (files in, figures and report out).
- ``kafka``: the faust worker and what it needs around faust and the broker.
- ``review``: the DIKE/ERIS reviewer and its OpenAI-compatible chat client.
- ``observe``: Prometheus metrics, Grafana dashboards, reports, the alert webhook.
- ``cli``: the ``affectwatch`` command, one module per command group.
- ``settings`` (the one settings object) and ``wiring`` (core objects built from
  settings) are shared by every adapter.

``core`` and ``dike`` import no adapter, no broker, HTTP or CLI library: the
contracts in pyproject.toml (``lint-imports``, run by ``make test``) enforce it.
"""
