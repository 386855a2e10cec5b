"""Docstrings whose lists of choices come from :mod:`dnn_core.registry`.

A docstring names a table by a marker in braces, e.g. ``init : {INITS}``;
:func:`fill` puts the table in at import time, so that ``help()`` lists every
registry row and no list of names is written by hand. Markers are plain text
(not :meth:`str.format` fields): other braces in a docstring are left alone.
"""
from dnn_core import registry

__all__ = ["TABLES", "choice_set", "default_rates", "fill"]


def choice_set(names):
    """numpydoc's set of choices: ``{"a", "b"}``."""
    return "{" + ", ".join(f'"{name}"' for name in names) + "}"


def default_rates(optimizers):
    """"0.01 for gd and momentum, 0.001 for adam" from ``{name: class}`` (each class
    with a ``default_learning_rate``), in the registry's order."""
    groups = {}
    for name, cls in optimizers.items():
        groups.setdefault(cls.default_learning_rate, []).append(name)
    parts = []
    for rate, names in groups.items():
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        parts.append(f"{rate:g} for {listed}")
    return ", ".join(parts)


#: marker -> text, derived from the registry
TABLES = {
    "HIDDEN": choice_set(registry.hidden_activations()),
    "OUTPUTS": choice_set(registry.OUTPUTS),
    "OUTPUT_LOSSES": "\n".join(
        f'- "{name}": {row.loss}, ``{row.formula}`` ({row.target} targets)'
        for name, row in registry.OUTPUTS.items()),
    "INITS": choice_set(registry.INITIALIZERS),
    "INIT_FORMULAS": "\n".join(
        f'- "{name}": ``{row.formula}``' for name, row in registry.INITIALIZERS.items()),
    "OPTIMIZERS": choice_set(registry.OPTIMIZERS),
}


def fill(doc, **extra):
    """``doc`` with each ``{MARKER}`` of :data:`TABLES` (and of ``extra``) replaced;
    the later lines of a multi-line table take the indentation of the marker's line.

    Parameters
    ----------
    doc : str or None
        None (docstrings stripped by ``python -OO``) is given back as it is.
    **extra : str
        More markers, e.g. tables that need a module this one cannot import.

    Returns
    -------
    str or None
    """
    if doc is None:
        return None
    tables = {**TABLES, **extra}
    lines = []
    for line in doc.split("\n"):
        indent = line[:len(line) - len(line.lstrip())]
        for key, text in tables.items():
            line = line.replace("{" + key + "}", text.replace("\n", "\n" + indent))
        lines.append(line)
    return "\n".join(lines)
