"""The local stack: real Kafka and ClickHouse servers for demos and tests, without Docker.

- :mod:`.kafka` — ``LocalKafka``: a single-node Apache Kafka 4.x broker in KRaft mode
  (broker and controller in one JVM), its jars resolved once from Maven Central by Maven
  into ``~/.cache/funnelwatch/kafka-<version>/libs`` and started with ``java -cp``
  (Java 17+). CLI: ``python -m funnelwatch.localstack.kafka {install,start,stop,status}``.
- :mod:`.clickhouse_server` — ``LocalClickHouseServer``: Debian's ``clickhouse-server``
  (18.16 on bookworm, installed with apt-get when missing and running as root) with
  its own config, on free ports.
- :mod:`.prometheus` — ``LocalPrometheus`` and ``LocalAlertmanager``: Debian's
  ``prometheus`` and ``prometheus-alertmanager`` with a generated Prometheus config (the
  given scrape targets and rule files) and a given Alertmanager config, on free ports.
- :mod:`.ports` — ``free_port`` and small TCP probes.

Invariants:
- Every server listens on 127.0.0.1 only, and everything it writes (config, data, logs,
  pidfile) stays under its home directory; nothing under /etc or /var is touched.
- A start either ends with a server that answers its clients' protocol (a Kafka metadata
  request, a ClickHouse ``SELECT``, Prometheus' and Alertmanager's ``/-/ready``) or
  raises with the tail of the server's log; a failed start leaves no process behind.
- Each server runs in its own process group and stop() ends that group: SIGTERM, then
  SIGKILL after a timeout. A Kafka home keeps a pidfile, so another process can stop it.
- The Kafka broker never auto-creates topics: topics come from the catalogue with
  explicit partition counts.

Nothing here is imported by the worker: this package is tooling for the machine it
runs on, not part of the pipeline.
"""
