"""Imported first by a benchmark stated for one core: BLAS (OpenBLAS, under numpy) reads its thread
count when numpy loads it, and the threads it would start for a matrix product keep spinning for a
while after it, beside the single-threaded search being measured."""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
