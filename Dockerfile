# One image for the three fleetops services; the argument picks the service:
#   docker build -t fleetops:0.1.0 .
#   docker run fleetops:0.1.0 services.maintenance.main
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app/gen

WORKDIR /app

# The pinned dependencies alone first, so a code change does not reinstall OR-Tools and gRPC.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY protos ./protos
COPY services ./services
# Editable: the code runs from /app, where each service finds its migrations beside its main.py.
RUN pip install --no-deps --editable . \
    && python protos/build.py generate

# A numeric user, so Kubernetes' runAsNonRoot can verify it; var/ holds the SQLite fallback only.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin fleetops \
    && mkdir -p /app/var \
    && chown 10001:10001 /app/var
USER 10001

# gRPC: fleet 50051, maintenance 50052, invoicing 50053; metrics 9101..9103.
EXPOSE 50051 50052 50053 9101 9102 9103

# Python is PID 1 and handles SIGTERM itself: health NOT_SERVING, drain within FLEETOPS_GRACE_SECONDS.
ENTRYPOINT ["python", "-m"]
CMD ["services.fleet.main"]
