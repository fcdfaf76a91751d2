# The platform itself: API (default CMD) and spawner (`actors spawner ...`).
#
#   docker build -t actors/platform:latest .
#   docker build --build-arg BASE_IMAGE=my-registry/python:3.12-slim -t actors/platform:latest .
#
# BASE_IMAGE must provide python3 with the venv module (python:*-slim does).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/actors/venv \
    PATH=/opt/actors/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# A private virtualenv: works the same on python:*-slim and on Debian's python3
# (no PEP 668 "externally managed" conflicts).
RUN python3 -m venv "$VIRTUAL_ENV"

WORKDIR /opt/actors/src
# .dockerignore keeps .venv, .git, caches and test data out of this copy.
COPY . .
RUN pip install ".[gpu]" && python3 -c "import actors_core, actors_api, spawner, actors_cli, runtime_sdk" \
 && echo 'actors:x:10001:10001:actors:/home/actors:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'actors:x:10001:' >> /etc/group \
 && mkdir -p /home/actors && chown 10001:10001 /home/actors

# The API runs unprivileged; the spawner needs the Docker socket and runs as
# root (docker-compose.yml sets `user: "0"` for it).
USER 10001:10001
WORKDIR /opt/actors
EXPOSE 8000
# gunicorn_config: /metrics adds up every worker (prometheus-client's multiprocess mode);
# ThreadWorker: gunicorn's own refusals (e.g. a bad Transfer-Encoding) are JSON errors too.
CMD ["gunicorn", "-c", "python:actors_api.gunicorn_config", "-b", "0.0.0.0:8000", "-k", "actors_api.gunicorn_worker.ThreadWorker", "--threads", "16", "actors_api:create_app()"]
