# workerplane's image: `workerplane serve` (the REST API and, while it holds the lease, the
# controller), as a non-root user. Build from the repository root:
#   docker build -t registry.example.com/workerplane:0.1.0 .
# Stage 1 builds the wheel with the project's own build backend; stage 2 installs it into a clean
# virtualenv on a slim Python. Both steps are scripts in deploy/image/, so that
# tests/deploy/test_image.py runs the very same steps without a Docker daemon.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY deploy/image/build-wheel.sh /usr/local/bin/build-wheel.sh
COPY pyproject.toml README.md ./
COPY src ./src
RUN build-wheel.sh /src /wheels

FROM python:${PYTHON_VERSION}-slim
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PATH=/opt/workerplane/bin:$PATH
COPY deploy/image/install.sh /usr/local/bin/install.sh
COPY deploy/image/healthcheck.py /usr/local/bin/healthcheck.py
COPY --from=build /wheels /tmp/wheels
RUN install.sh /opt/workerplane /tmp/wheels \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 10001 workerplane \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin workerplane
# Numeric, so Kubernetes' runAsNonRoot can verify it (the Helm chart runs as 10001 too).
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/bin/healthcheck.py"]
ENTRYPOINT ["workerplane", "serve"]
CMD ["--host=0.0.0.0", "--port=8080", "--state-dir=/tmp/workerplane"]
