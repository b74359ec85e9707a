"""The functional core: records and their validation, scoring, groups, topics,
event-time windows, divergence, figures and the pipeline (Scorer, Aggregator).

Pure functions and small classes; both runners feed it the same way, so they
give the same numbers. May import: ``streams.dike``, ``streams.settings``,
``models``, numpy, pydantic, yaml and the standard library. Never an adapter
(``kafka``, ``embedded``, ``review``, ``observe``, ``cli``) or a broker, HTTP,
metrics or CLI library.
"""
