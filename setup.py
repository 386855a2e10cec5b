"""Build the compiled core `dnn_core`: one extension module per Cython source."""
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_blas", "_activations", "_losses", "_dense", "_update", "_checks", "_optim",
           "_engine"]

extensions = [
    Extension(
        f"dnn_core.{name}",
        [str(Path("dnn_core") / f"{name}.pyx")],
        include_dirs=[numpy.get_include(), "dnn_core"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # -fno-trapping-math lets gcc vectorize the selects (relu, leaky_relu),
        # -fno-math-errno the square roots (optimizers)
        extra_compile_args=["-O3", "-g0", "-fno-trapping-math", "-fno-math-errno"],
    )
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        nthreads=2,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    options={"build_ext": {"parallel": 2}},
)
