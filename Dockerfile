# syntax=docker/dockerfile:1
#
# One image for every govhub service. The target is chosen at run time:
#   docker run IMAGE                                  # all-in-one (default)
#   docker run IMAGE run --target exchange --host 0.0.0.0 --port 8000  # one service
#   docker run IMAGE migrate                          # database migrations
#
# Build stage: uv (installed from PyPI with pip) resolves the workspace from uv.lock only
# (--frozen) without dev dependencies, into a self-contained virtualenv (--no-editable)
# that the final stage copies. Nothing is downloaded from anywhere but PyPI.
#
# PYTHON_IMAGE is any image with python3.11 (and its venv module) on PATH: the official
# python:3.11-slim (python at /usr/local/bin), or a Debian bookworm with python3.11 and
# python3.11-venv (python at /usr/bin), as tests/deploy/test_deploy_image.py builds from
# debootstrap. Both stages use the same base, so the virtualenv's interpreter link holds.

ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.9

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/govhub/venv
# uv in a virtualenv of its own: the base's pip may be missing (Debian) or refuse to
# install into the system (PEP 668); only the build stage has it.
RUN python3.11 -m venv /opt/uv && /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}"
ENV PATH=/opt/uv/bin:$PATH
WORKDIR /src

# Third-party dependencies first, from the lock file and the members' metadata only, so
# this layer is rebuilt only when a dependency changes, not on every source edit.
COPY pyproject.toml uv.lock README.md ./
COPY libs/common/pyproject.toml libs/common/
COPY libs/demo/pyproject.toml libs/demo/
COPY services/registry/pyproject.toml services/registry/
COPY services/exchange/pyproject.toml services/exchange/
COPY services/alerting/pyproject.toml services/alerting/
COPY services/sms-gateway/pyproject.toml services/sms-gateway/
COPY services/console/pyproject.toml services/console/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace

# Then the workspace packages themselves, installed as wheels (not editable links into
# /src) so the virtualenv stands alone in the final stage.
COPY libs/ libs/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
    && /opt/govhub/venv/bin/govhub --help >/dev/null


FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="govhub" \
      org.opencontainers.image.description="Municipal e-government data hub" \
      org.opencontainers.image.licenses="Apache-2.0"

# No build or packaging tools in the final image: drop the base image's pip/setuptools.
RUN python3.11 -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true; \
    groupadd --system --gid 10001 govhub \
    && useradd --system --uid 10001 --gid govhub --no-create-home \
       --home-dir /var/lib/govhub --shell /usr/sbin/nologin govhub \
    && install -d -o govhub -g govhub -m 0750 /var/lib/govhub

# The virtualenv's interpreter links to the base's python3.11 (/usr/local/bin or /usr/bin),
# the same path in both stages since both start from the same base image.
COPY --from=build /opt/govhub/venv /opt/govhub/venv

ENV PATH=/opt/govhub/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GOVHUB_HOME=/var/lib/govhub

USER 10001:10001
WORKDIR /var/lib/govhub
EXPOSE 8000
ENTRYPOINT ["govhub"]
# `govhub run` listens on 127.0.0.1 unless told otherwise: in a container it must
# listen on every interface to be reachable at all.
CMD ["run", "--target", "all", "--host", "0.0.0.0"]
