# imgstats HTTP service: `imgstats serve` (gunicorn, gthread workers) on port 8181.
#   docker build -t imgstats .    docker run -p 127.0.0.1:8181:8181 imgstats    (or: docker compose up)
#
# Reproducible: the dependencies are the exact versions and sha256 hashes in requirements/web.txt,
# exported from uv.lock (`uv run invoke requirements`, see CONTRIBUTING.md); the base image is
# pinned by tag. To pin it by digest as well, append the digest to both FROM lines, e.g.
#   FROM python:3.11.14-slim-bookworm@sha256:<digest> AS build
# where <digest> is what `docker buildx imagetools inspect python:3.11.14-slim-bookworm` prints as
# "Digest" (or `docker inspect --format '{{index .RepoDigests 0}}'` after a pull).

# -- build: the dependencies and the imgstats wheel into a virtualenv ----------------------------
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Hashes only, no sdists: nothing is compiled, so no compiler is ever needed.
COPY requirements/web.txt requirements/build.txt /tmp/requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --only-binary=:all: --no-deps \
       -r /tmp/requirements/web.txt

# The project itself: a wheel built with the pinned build backend in a throwaway virtualenv,
# installed without dependencies (they are all above, pinned); pip check fails the build when
# requirements/web.txt misses one of them.
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY imgstats ./imgstats
RUN python -m venv /opt/buildenv \
    && /opt/buildenv/bin/pip install --require-hashes --only-binary=:all: --no-deps \
       -r /tmp/requirements/build.txt \
    && /opt/buildenv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
    && /opt/venv/bin/pip install --no-deps --no-index /tmp/dist/imgstats-*.whl \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/imgstats --help >/dev/null

# Smaller, same behaviour: the installers are not needed at run time, nor are the packages'
# own test suites (pandas, numpy, numba, xarray: ~35 MB). The bytecode (55 MB) stays: the
# image's site-packages is read-only for the service's user, so without it every process and
# gunicorn worker would compile numpy, pandas and Flask from source at each start (importing
# the service's modules took 10-12 s instead of 4 s when measured).
RUN /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && find /opt/venv/lib/python3.11/site-packages -type d -name tests -prune \
       -exec rm -rf {} + \
    && /opt/venv/bin/python -c \
       "import imgstats.web, flask, gunicorn, redis, numba, xarray, dask.array, zarr"

# numba's cache of the compiled kernels, filled here by the service's own warm-up: a new
# container then loads them (about a second) instead of compiling them before /ready (14 s
# and more). numba keys a cached kernel by its source file's path, size and mtime, the
# Python and numba versions and the CPU: the run-time stage keeps the same /opt/venv (COPY
# keeps mtimes) and reads this folder through the same NUMBA_CACHE_DIR, and checks it below.
# Built on another CPU model than it runs on, the kernels compile at start-up as before.
# From /, not /src: `python -c` would import the checkout in the working directory, and the
# cache would be keyed by /src/imgstats rather than the installed package.
ENV NUMBA_CACHE_DIR=/opt/numba-cache
RUN cd / && /opt/venv/bin/python -c \
       "from imgstats.web import create_app; create_app({'WARMUP': True})"

# -- runtime: the virtualenv only, run as an unprivileged user -----------------------------------
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="imgstats" \
      org.opencontainers.image.description="Exact image statistics over HTTP" \
      org.opencontainers.image.licenses="MIT"

# A regular (not --system) account: uid 10001 lies outside the system range, and useradd
# --system warns about that; 10001 keeps clear of the users of most hosts.
RUN groupadd --gid 10001 imgstats \
    && useradd --uid 10001 --gid imgstats --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin imgstats

COPY --from=build /opt/venv /opt/venv
# Owned by the service's user: numba adds any kernel signature the warm-up did not compile
# (and, finding the folder read-only, would fall back to an empty one under $HOME).
COPY --from=build --chown=10001:10001 /opt/numba-cache /opt/numba-cache

# numba cannot write its cache next to the installed package as a non-root user, and
# gunicorn puts its control socket under $HOME.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/opt/numba-cache \
    IMGSTATS_WORKERS=2

USER 10001:10001
# The cache is valid here, for this user and these settings: the warm-up a server runs loads
# every kernel from it (a miss, e.g. COPY having changed a source file's mtime, fails the build).
RUN python -c "from imgstats import _jit; from imgstats.web import create_app; \
create_app({'WARMUP': True}); m = _jit.cache_misses(); print('numba cache misses:', m or 'none'); \
raise SystemExit(1 if m else 0)"
WORKDIR /tmp
EXPOSE 8181

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8181/ready', timeout=4); sys.exit(r.status != 200)"]

# Images: the bundled gallery by default; mount a folder and set IMGSTATS_IMAGES to serve yours.
CMD ["imgstats", "serve", "--host", "0.0.0.0", "--port", "8181"]
