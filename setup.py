"""Build the compiled core `dnn_core`: one extension module per Cython source.

DNN_SANITIZE=1 in the environment builds a checking variant instead (used by
tools/sanitize.sh, never for a release): AddressSanitizer and
UndefinedBehaviorSanitizer, -O1 -g, and Cython's bounds and initialization checks.
"""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_blas", "_activations", "_losses", "_dense", "_update", "_checks", "_optim",
           "_layout", "_rows", "_passes", "_train", "_floor", "_engine", "_batchnorm",
           "_sparse", "_sparse_rows", "_pool", "_shards", "_batchnorm_moments",
           "_bn_shards", "_intake", "_call", "_dual",
           "sparse_kernels"]

SANITIZE = os.environ.get("DNN_SANITIZE", "") not in ("", "0")

# -fno-trapping-math lets gcc vectorize the selects (relu, leaky_relu),
# -fno-math-errno the square roots (optimizers); -ffp-contract=off: no fused
# multiply-adds in the copies compiled for AVX2/AVX-512 (_optim.pyx), so every
# CPU rounds alike
compile_args = ["-O3", "-g0", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"]
link_args = []
directives = {"boundscheck": False, "wraparound": False, "cdivision": True,
              "initializedcheck": False}
if SANITIZE:
    sanitizers = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    # -fno-wrapv: Python's own CFLAGS say -fwrapv, which would hide signed overflow
    compile_args = ["-O1", "-g", "-fno-omit-frame-pointer", "-fno-wrapv",
                    "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off", *sanitizers]
    link_args = sanitizers
    directives.update(boundscheck=True, initializedcheck=True)

extensions = [
    Extension(
        f"dnn_core.{name}",
        [str(Path("dnn_core") / f"{name}.pyx")],
        include_dirs=[numpy.get_include(), "dnn_core"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        nthreads=2,
        compiler_directives=directives,
        # the checked build's C files and objects live apart from the normal
        # build's, so that neither is ever mistaken for the other
        build_dir="build/sanitize/c" if SANITIZE else None,
    ),
    options={"build_ext": {"parallel": 2},
             **({"build": {"build_base": "build/sanitize"}} if SANITIZE else {})},
)
