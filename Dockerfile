# The funnelwatch image: the worker and the simulator (docker-compose.yml runs both),
# and `funnelwatch grafana push` for a Grafana outside the stack.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY funnelwatch funnelwatch
COPY schemas schemas
COPY streams streams
COPY processors processors
COPY localstack localstack
COPY grafana grafana
COPY connectors connectors
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /var/lib/funnelwatch --create-home funnelwatch
# Faust tables and state live in the data dir; the web server must listen beyond loopback
# for Prometheus and the compose health check.
ENV FUNNELWATCH_DATA_DIR=/var/lib/funnelwatch FUNNELWATCH_WEB_BIND=0.0.0.0
USER funnelwatch
ENTRYPOINT ["funnelwatch"]
CMD ["worker", "-l", "info"]
