"""The Kafka adapter: the faust worker and its agents, the micro-batching and
gap filling that make faust exact, the write-back cache for tables, Kafka I/O
(topics, replay) and the local Apache Kafka used by tests and benchmarks.
May import the core, ``dike``, ``observe`` and ``wiring``.
"""
