"""The course's own functions, names and signatures, on the compiled kernels.

``from dnn.course import *`` gives course 1 week 4 ("Building your Deep Neural
Network: Step by Step" and "Deep Neural Network - Application", see
:mod:`dnn.course.deep_neural_network`). The other NumPy assignments of courses 1
and 2 have one submodule each, under the names their notebooks use::

    from dnn.course.logistic_regression import *   # course 1 week 2
    from dnn.course.planar import *                # course 1 week 3
    from dnn.course.initialization import *        # course 2 week 1
    from dnn.course.regularization import *        # course 2 week 1
    from dnn.course.gradient_checking import *     # course 2 week 1
    from dnn.course.optimization import *          # course 2 week 2

Course mode: these functions compute the notebooks' equations on whatever
arrays the course's code takes (real-valued labels included); shapes and
dtypes are still checked, and nothing bad reaches a kernel. They print what
the course prints.
"""
from dnn.course import deep_neural_network
from dnn.course.deep_neural_network import *  # noqa: F401,F403
from dnn.course.deep_neural_network import __all__  # noqa: F401

from dnn.course import logistic_regression, planar  # noqa: E402,F401
from dnn.course import gradient_checking, initialization, optimization, regularization  # noqa
