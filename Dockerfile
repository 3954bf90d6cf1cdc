# imgstats HTTP service: `imgstats serve` (gunicorn, gthread workers) on port 8181.
#   docker build -t imgstats .    docker run -p 8181:8181 imgstats    (or: docker compose up)

# -- build: install imgstats and its dependencies into a virtualenv ----------------------------
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY imgstats ./imgstats
# A regular (not editable) install: the runtime image needs no source tree.
RUN pip install .

# -- runtime: the virtualenv only, run as an unprivileged user ---------------------------------
FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="imgstats" \
      org.opencontainers.image.description="Exact image statistics over HTTP" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 imgstats \
    && useradd --system --uid 10001 --gid imgstats --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin imgstats

COPY --from=build /opt/venv /opt/venv

# numba cannot write its cache next to the installed package as a non-root user, and
# gunicorn puts its control socket under $HOME.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    IMGSTATS_WORKERS=2

USER 10001:10001
WORKDIR /tmp
EXPOSE 8181

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8181/health', timeout=4); sys.exit(r.status != 200)"]

# Images: the bundled gallery by default; mount a folder and set IMGSTATS_IMAGES to serve yours.
CMD ["imgstats", "serve", "--host", "0.0.0.0", "--port", "8181"]
