"""The validation studies (``python -m studies.validation``, ``python -m studies.zoo``) and the
fine-tuning study (``python -m studies.finetune``); see studies/README.md.

One BLAS thread for every study: with several processes on 2 cores a multi-threaded BLAS spins (a
434 x 128 SVD took 3.3 s instead of 0.017 s, measured).  Set here, before numpy is first imported.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
