# Worker image for prepare_pretraining_data_beam.py on Dataflow, Flink or
# Spark (--sdk_container_image / --environment_config). Build from the
# repository root:
#
#   docker build -f docker/beam-worker.Dockerfile -t IMAGE .
#
# It holds Beam's Python 3.11 SDK harness, this repository's modules and
# their pinned dependencies (requirements.txt, with the CUDA build of PyTorch
# from PyPI, and requirements-beam.txt). To tag with a local LTP model rather
# than a hub name, copy it in and pass --ltp_model=/opt/ltp/small.
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /lert
COPY requirements.txt requirements-beam.txt ./
RUN pip install --no-cache-dir -r requirements.txt && \
    pip install --no-cache-dir -r requirements-beam.txt -c requirements.txt
COPY *.py ./
COPY lert/ lert/
COPY configs/ configs/
ENV PYTHONPATH=/lert
# COPY ltp-small/ /opt/ltp/small/
