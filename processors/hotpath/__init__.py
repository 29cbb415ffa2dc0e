"""The hot path: one pass per batch of source records, owned end to end.

``batch`` decodes, validates, routes and attributes a batch and says what it must
write; ``checkpoint`` writes it in order (ClickHouse, then the lead store, then the
producer, then the consumer's offsets); ``loop`` is the thread that consumes, with
backpressure by pausing partitions; ``kafka`` builds the clients; ``config`` is its
configuration. Faust runs it as a service (``service``) and is not on its path.
"""
