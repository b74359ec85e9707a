"""``affectwatch probe``: ask deployed models to answer sampled human posts.

An adapter (it talks HTTP to chat endpoints and writes files or Kafka): the
prompt profiles and endpoints (``profiles``), which posts are asked about
(``sampling``), the state that survives a kill (``ledger``), the asking itself
with limits (``asker``), where answers go (``sinks``), its metrics and the loop
that joins them (``runner``). May import the core, ``review.chat`` and Kafka
clients; the core never imports it.
"""
