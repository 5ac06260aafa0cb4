# The FaceGate worker image. Two stages: build a venv with the pinned constraints (the same
# `pip install -c constraints.txt` that scripts/install runs and CI tests), then copy only the venv
# into a slim runtime that runs as an unprivileged user.
# The base is pinned by exact version; pin it by digest in your registry mirror as well.
# With a package index (ordinary): `docker build .` installs the SDK (sdk/, not on an index) and
# the gateway from source. Without one: put the wheels of the gateway, the SDK and every dependency
# in a wheels/ directory of the build context and pass --build-arg WHEELS=wheels. scripts/build-image
# does that with buildah on a base made from Debian's packages (no daemon, no registry, no index).
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG WHEELS=
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY gateway ./gateway
COPY schemas ./schemas
COPY sdk ./sdk
# The wheelhouse when the context has one: the glob matches nothing otherwise (README.md keeps the
# instruction valid then).
COPY README.md wheel[s] ./wheels/
RUN python -m venv /opt/facegate \
 && if [ -n "$WHEELS" ]; then \
      /opt/facegate/bin/pip install --no-cache-dir --no-index --find-links ./wheels -c constraints.txt facegate; \
    else \
      /opt/facegate/bin/pip install --no-cache-dir --upgrade pip \
      && /opt/facegate/bin/pip install --no-cache-dir -c constraints.txt ./sdk .; \
    fi

FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 facegate \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin facegate \
 && mkdir -p /var/cache/facegate && chown 10001:10001 /var/cache/facegate
COPY --from=build /opt/facegate /opt/facegate
ENV PATH=/opt/facegate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FACEGATE_CACHE_DIR=/var/cache/facegate \
    NUMBA_CACHE_DIR=/var/cache/facegate/numba
USER 10001:10001
EXPOSE 6066
HEALTHCHECK NONE
ENTRYPOINT ["facegate"]
CMD ["run", "--no-provision"]
