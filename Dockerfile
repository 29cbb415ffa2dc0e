# The funnelwatch worker and simulator image (docker-compose.yml runs both).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY funnelwatch funnelwatch
COPY schemas schemas
COPY streams streams
COPY processors processors
COPY localstack localstack
RUN pip install --no-cache-dir .
ENV FUNNELWATCH_DATA_DIR=/var/lib/funnelwatch FUNNELWATCH_WEB_BIND=0.0.0.0
ENTRYPOINT ["funnelwatch"]
CMD ["worker", "-l", "info"]
