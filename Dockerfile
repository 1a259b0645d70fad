# slaguard: probes, SLO accounting, alerting, dashboards and PDF statements in one image.
#
# Debian 12 (bookworm), as CI: the CJK font and WeasyPrint's Pango libraries are
# the ones scripts/install-system-deps installs, because a PDF statement without
# a CJK font would print empty boxes for every Chinese character.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
 && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src

# The pinned dependencies first: a change to the code alone reuses this layer.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# Then slaguard itself, without resolving anything again (.dockerignore keeps
# tests, the venv and local data out).
COPY . .
RUN pip install --no-cache-dir --no-deps . \
 && useradd --system --uid 10001 --home-dir /var/lib/slaguard --create-home slaguard

# The store lives in /var/lib/slaguard (a volume in docker-compose.yml).
USER slaguard
WORKDIR /var/lib/slaguard
EXPOSE 9108
CMD ["slaguard", "run", "-c", "/etc/slaguard/slaguard.yaml"]
