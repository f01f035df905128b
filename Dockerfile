# One image for every baton function; the Knative Service picks the function with
# BATON_FUNCTION (knative/base/services/*.yaml). Build from the repository root:
#   docker build -t baton:dev .
FROM python:3.11-slim AS build
WORKDIR /src
# Dependencies first, so code edits reuse the cached layer.
COPY pyproject.toml README.md ./
COPY functions/ functions/
COPY events/ events/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# The CRDs are the resources' schemas (functions.resources.schema reads them from here).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PORT=8080 \
    BATON_STORE=kubernetes \
    BATON_CRD_DIR=/opt/baton/crd
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY config/crd/ /opt/baton/crd/
# A numeric non-root user, so Kubernetes can verify runAsNonRoot without an image lookup.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin baton
USER 10001
EXPOSE 8080
# gthread workers and a timeout above the model timeout (functions/serve/gunicorn_conf.py);
# exec form, so gunicorn is PID 1 and gets Knative's SIGTERM for a graceful stop.
CMD ["gunicorn", "-c", "python:functions.serve.gunicorn_conf", "functions.serve.app:from_env()"]
