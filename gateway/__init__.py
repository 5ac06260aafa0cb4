"""FaceGate: a data-governance gateway for biometric event streams."""

import os

# A worker is sized for one core. OpenBLAS (numpy's matrix product, which protects each batch of
# templates) would start a thread per core and leave them spinning after every product: measured,
# that doubled the worker's CPU per decision (bench/PROFILES.md). Read when numpy loads, so here;
# an operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# A large 1:N search splits between the CPUs OpenMP counts (gateway.core.biometrics.matching);
# within a container's CPU limit, which OpenMP does not see. Read when faiss loads, so here.
from gateway.cpus import configure

configure(os.environ)

__version__ = "0.3.0"
