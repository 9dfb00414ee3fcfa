# audit-trail: one image for the API (gunicorn), the stream workers and the RQ worker.
#   docker build -t audit-trail .
#   docker run -e REDIS_URL=redis://host:6379/0 -p 8000:8000 audit-trail
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000

WORKDIR /app

# The project's metadata and packages (README.md is the package's readme), then install.
COPY pyproject.toml README.md ./
COPY collector ./collector
COPY api ./api
COPY worker ./worker
COPY cli ./cli
RUN pip install . \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin audit

COPY gunicorn.conf.py ./

# Never run as root.
USER audit:audit

EXPOSE 8000

# Exec form: gunicorn is PID 1 and gets SIGTERM for its graceful shutdown.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "api:create_app()"]
