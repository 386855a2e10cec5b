"""Build the compiled core `dnn_core`: one extension module per Cython source."""
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_blas", "_activations", "_losses", "_dense", "_update", "_checks"]

extensions = [
    Extension(
        f"dnn_core.{name}",
        [str(Path("dnn_core") / f"{name}.pyx")],
        # -fno-trapping-math lets gcc vectorize the selects (relu, leaky_relu)
        extra_compile_args=["-O3", "-g0", "-fno-trapping-math"],
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
