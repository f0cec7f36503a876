"""Build the featuriser's C extension (everything else about the package is in pyproject.toml).

The kernels are compiled for the x86-64-v3 micro-architecture level (AVX2, BMI2, FMA, MOVBE:
Intel Haswell and AMD Excavator onwards, every current cloud instance type); the extension refuses
to load on an older CPU instead of failing on an illegal instruction. ``SENTIMENT_CPU_BASELINE``
picks another level at build time (``x86-64`` for the generic baseline).
"""

from __future__ import annotations

import os
from glob import glob

from setuptools import Extension, setup

baseline = os.environ.get("SENTIMENT_CPU_BASELINE", "x86-64-v3")
flags = ["-O3", "-std=c11", "-pthread", f"-march={baseline}", f'-DKERNELS_BASELINE="{baseline}"']
if baseline == "x86-64-v3":
    flags.append("-DKERNELS_NEED_V3")
# _kernels.c includes its parts, one header per responsibility: a changed header rebuilds it, and
# the source distribution carries them.
parts = sorted(glob("src/sentiment_mlops/model/_kernels_*.h"))

setup(
    ext_modules=[
        Extension(
            "sentiment_mlops.model._kernels",
            sources=["src/sentiment_mlops/model/_kernels.c"],
            depends=parts,
            extra_compile_args=flags,
            extra_link_args=["-pthread"],
        )
    ]
)
