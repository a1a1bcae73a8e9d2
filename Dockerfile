# One image for every Leadrelay service: `leadrelay serve intake|scoring|router|notifier|relay`,
# `leadrelay migrate`, `leadrelay topics ensure`, and the admin commands.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what the package needs (pyproject names README.md as its readme).
COPY pyproject.toml setup.py README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin leadrelay

USER leadrelay
# In a container intake must listen on every interface, not the 127.0.0.1 default.
ENV LEADRELAY_HOST=0.0.0.0 \
    LEADRELAY_PORT=8080
EXPOSE 8080
ENTRYPOINT ["leadrelay"]
CMD ["--help"]
