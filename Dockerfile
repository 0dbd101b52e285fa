# The gateway image: python:3.11-slim, installed as a wheel, run as a non-root user.
#   docker build -t gateway:0.1.0 .
#   docker run --rm -p 8080:8080 -e OPENAI_API_KEY=... gateway:0.1.0    # configs/starter.yaml
# It serves configs/starter.yaml (any of the provider keys it names will do; without REDIS_URL,
# a private engine in the container) unless another config is mounted on /etc/gateway/config.yaml;
# configs/demo.yaml is beside it for compose.yaml's demo profile.
# Kubernetes runs it with a read-only root filesystem and an emptyDir on /tmp (deploy/k8s).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
# No PYTHONUNBUFFERED: the JSON log lines are flushed one write per line; unbuffered text I/O
# would write each line and its newline separately, and the two workers' lines could interleave.
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /home/gateway --create-home --shell /usr/sbin/nologin gateway
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
# The Lua scripts live beside the package in the repository, not inside it: ship them and say where.
COPY lua /opt/gateway/lua
ENV GATEWAY_LUA_DIR=/opt/gateway/lua
COPY configs/starter.yaml /etc/gateway/config.yaml
COPY configs/demo.yaml /etc/gateway/demo.yaml
USER 10001:10001
WORKDIR /home/gateway
EXPOSE 8080
# /healthz answers while the event loop runs; it does no I/O.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# uvicorn with 2 workers; --grace drains in-flight requests and streams on SIGTERM.
CMD ["gateway", "serve", "--config", "/etc/gateway/config.yaml", "--host", "0.0.0.0", "--port", "8080", \
     "--workers", "2", "--grace", "25"]
