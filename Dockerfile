# The one image of docker-compose.yml: every finesse-emu component (cti_stub, awdb_stub, the Finesse
# node, the desktop swarm) and Prosody from Debian's package, as in the embedded deployment.
# Each compose service runs it with its own command (docs/compose.md).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Prosody 0.12 (bookworm) is the Notification Service. No service starts during the build (no init
# system in a build container), and the packaged /etc/prosody config is never used: emu-prosody
# writes its own (loopback-rendered, then bound to the container's addresses). Certificates are made
# in Python (finesse-emu secrets), not with openssl.
RUN apt-get update \
    && apt-get install -y --no-install-recommends prosody \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/finesse-emu
COPY pyproject.toml README.md ./
COPY finesse_emu ./finesse_emu
COPY cti_stub ./cti_stub
COPY awdb_stub ./awdb_stub
COPY ged188 ./ged188
COPY emu_base ./emu_base
RUN pip install . && rm -rf build finesse_emu cti_stub awdb_stub ged188 emu_base

# The container commands of docker-compose.yml: Prosody's entrypoint, the healthcheck, the
# desktops' slice entrypoint.
COPY docker/prosody_entrypoint.py /usr/local/bin/emu-prosody
COPY docker/healthcheck.py /usr/local/bin/emu-health
COPY docker/desktops-entrypoint.sh /usr/local/bin/emu-desktops
RUN chmod 0755 /usr/local/bin/emu-prosody /usr/local/bin/emu-health /usr/local/bin/emu-desktops

# Nothing needs root: every port is above 1024. Run directories (AWDB SQLite files, Prosody's
# config and log) live under /data in the container's own filesystem, so
# `docker compose kill` + `start` keeps them, like a restarted server.
RUN useradd --system --uid 10001 --user-group --home-dir /data --create-home --shell /usr/sbin/nologin emu
# The mount point of compose's `secrets` volume (finesse-emu secrets /secrets): Docker gives an empty
# named volume the owner and mode of the directory it is mounted on, so emu can write it, nobody else
# can read it.
RUN install -d -o emu -g emu -m 0700 /secrets
USER emu
WORKDIR /data

CMD ["finesse-emu", "--help"]
