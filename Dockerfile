# The Tycho image: the registry server and the verification worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# The CPU build of torch first, from PyTorch's CPU wheel index: the default
# wheel on PyPI brings several GB of CUDA libraries a CPU worker never uses.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install "torch==2.13.0" --index-url "$TORCH_INDEX_URL"

COPY pyproject.toml README.md ./
COPY tycho ./tycho
COPY runner ./runner
COPY server ./server
COPY phenomena ./phenomena
COPY migrations ./migrations
RUN pip install ".[postgres]"

EXPOSE 8000
CMD ["tycho", "serve", "--host", "0.0.0.0", "--port", "8000"]
