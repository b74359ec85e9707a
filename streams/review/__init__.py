"""Adapters of the DIKE reviewer: the OpenAI-compatible chat client, the
DIKE/ERIS debate, the review queue (file and Kafka) and the example rewriter
behind ``dike rewrite``. May import the core, ``dike`` and ``observe``.
"""
