"""The ``dnn`` command: train, predict, info, bench.

    dnn train                         # the built-in flower dataset
    dnn train --data data.csv --layers 16,8 --epochs 200
    dnn predict --model dnn-model.npz --data new.csv --out predictions.csv
    dnn info --model dnn-model.npz
    dnn bench

Any error prints one line ``dnn: error: ...`` on stderr and exits with status 2.
"""
import argparse
import math
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from dnn_core import registry

from dnn import datasets
from dnn._files import atomic_write, writable_path
# (the file readers; read_data, Data and CommandError are importable from here as before)
from dnn._io import CommandError, Data, read_data  # noqa: F401

FLOWER = "flower (built in)"
#: target kind ("binary", "categorical", "continuous", "count") -> the output trained on it
OUTPUT_FOR_TARGET = {row.target: name for name, row in registry.OUTPUTS.items()}
#: the outputs trained on real values (regression: continuous targets, counts)
REGRESSION = registry.regression_outputs()
#: the metadata key (Network.save's metadata) of the class labels
CLASSES_FIELD = "classes"


# ---------------------------------------------------------------------------
# Options

def _layers(text):
    try:
        sizes = [int(size) for size in text.split(",")] if text.strip() else []
    except ValueError:
        sizes = [0]
    if sizes and min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes >= 1 such as 64,32 "
                                         f"(or '' for none), got {text!r}")
    return sizes


def _number_type(kind, low=None, high=None, low_open=False, high_open=False):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or (isinstance(value, float) and not math.isfinite(value)) \
                or (low is not None and (value < low or (low_open and value == low))) \
                or (high is not None and (value > high or (high_open and value == high))):
            bounds = " and ".join(
                part for part in (None if low is None else f"{'>' if low_open else '>='} {low}",
                                  None if high is None else f"{'<' if high_open else '<='} {high}")
                if part)
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun}{' ' + bounds if bounds else ''},"
                                             f" got {text!r}")
        return value
    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"dnn: error: {self.prog}: {message}\n")


def _parser():
    parser = _Parser(prog="dnn", description="dnn-core: deep networks on compiled kernels.")
    commands = parser.add_subparsers(dest="command", metavar="{train,predict,info,bench}")

    train = commands.add_parser(
        "train", help="train a network (default: the built-in flower dataset)",
        description="Train a dnn.Network, print its accuracy, save it.")
    train.add_argument("--data", metavar="PATH",
                       help="a .csv, an .npz (X, y[, X_test, y_test]), a cat/non-cat .h5, or "
                            "MNIST IDX (folder of the 4 files, or an images file with its "
                            "labels beside it); default: the flower dataset")
    train.add_argument("--target", default="-1", metavar="COLUMN",
                       help="CSV label column, name or index (default -1: the last)")
    train.add_argument("--layers", type=_layers, default=[8], metavar="SIZES",
                       help="hidden layer sizes, e.g. 64,32 (default 8)")
    train.add_argument("--activation", default="tanh",
                       choices=list(registry.hidden_activations()),
                       help="hidden activation (default tanh)")
    train.add_argument("--output", default="auto",
                       choices=["auto", *registry.OUTPUTS],
                       help="output layer; auto: sigmoid for 2 classes, softmax for more; "
                            "linear: regression (default auto)")
    train.add_argument("--optimizer", default="adam",
                       choices=list(registry.OPTIMIZERS),
                       help="(default adam)")
    train.add_argument("--lr", type=_number_type(float, 0, low_open=True), default=0.01,
                       help="learning rate (default 0.01)")
    train.add_argument("--epochs", type=_number_type(int, 1), default=None,
                       help="(default: enough for ~3000 steps, between 5 and 3000 epochs)")
    train.add_argument("--batch-size", type=_number_type(int, 1), default=None,
                       help="(default: the whole training set up to 1024 samples, else 128)")
    train.add_argument("--l2", type=_number_type(float, 0), default=0.0,
                       help="L2 regularisation, the course's lambda (default 0)")
    train.add_argument("--dropout", type=_number_type(float, 0, 1, high_open=True),
                       default=0.0, help="drop rate of hidden units, in [0, 1) (default 0)")
    train.add_argument("--batch-norm", action="store_true",
                       help="batch normalization of every hidden layer (predictions use "
                            "the running statistics)")
    train.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                       help="of the parameters and the arithmetic (default float64)")
    train.add_argument("--seed", type=_number_type(int, 0), default=0,
                       help="seeds the split, the weights, the shuffles (default 0)")
    train.add_argument("--test-split", type=_number_type(float, 0, 1, high_open=True),
                       default=0.2, help="fraction held out for testing when the data have "
                                         "no test set of their own (default 0.2)")
    train.add_argument("--out", default="dnn-model.npz", metavar="PATH",
                       help="where to save the model (default dnn-model.npz)")
    train.add_argument("--plot", default=None, metavar="PNG",
                       help="where to draw the cost curve (and the decision boundary for 2 "
                            "features) when matplotlib is installed (default: --out with "
                            ".png)")
    train.add_argument("--no-plot", action="store_true", help="draw nothing")
    train.add_argument("--checkpoint", default=None, metavar="PATH",
                       help="save the whole training state to PATH after every epoch "
                            "(atomically), to resume from with --resume")
    train.add_argument("--resume", default=None, metavar="PATH",
                       help="continue the run of the same command from its checkpoint "
                            "PATH, exactly, up to --epochs in all")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--distributed", action="store_true",
                       help="under mpirun: each rank trains on its share of the training "
                            "rows (--batch-size per rank; see dnn.distributed); rank 0 "
                            "prints, saves and plots")

    predict = commands.add_parser(
        "predict", help="predict with a saved model",
        description="Predict with a saved model: one label (classifiers) or value per line.")
    predict.add_argument("--model", required=True, metavar="PATH")
    predict.add_argument("--data", required=True, metavar="PATH",
                         help="as for train; a label column/array, when present, gives the "
                              "accuracy too")
    predict.add_argument("--target", default="-1", metavar="COLUMN",
                         help="CSV label column when the file has one (default -1)")
    predict.add_argument("--out", metavar="CSV", help="write the predictions there")

    info = commands.add_parser("info", help="describe a saved model")
    info.add_argument("--model", required=True, metavar="PATH")

    bench = commands.add_parser(
        "bench", help="time a training step: the engine beside NumPy (a few seconds)")
    bench.add_argument("--repeats", type=_number_type(int, 1), default=5)
    return parser


# ---------------------------------------------------------------------------
# train

def _flower():
    X, Y = datasets.make_flower()
    return Data(X.T, Y[0].astype(np.int64), FLOWER)


def _split(data, fraction, seed):
    """(X_train, y_train, X_test, y_test, where the test set comes from)."""
    if data.X_test is not None:
        return data.X, data.y, data.X_test, data.y_test, data.test_from
    n = len(data.X)
    n_test = int(round(n * fraction))
    if fraction == 0:
        return data.X, data.y, None, None, None
    if not 1 <= n_test < n:
        raise CommandError(f"--test-split: {fraction} of {n} samples leaves {n_test} for "
                           f"testing and {n - n_test} for training")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return (data.X[train], data.y[train], data.X[test], data.y[test],
            f"{fraction:g} of the data held out, seed {seed}")


def _encode(y, y_test, output, source, known_classes=None):
    """(targets for the network, test targets, classes or None, n_out, output).

    Class labels become indices into ``known_classes`` when the data give
    their order (cat/non-cat, MNIST), else into their sorted unique values."""
    regression, binary, multiclass = (OUTPUT_FOR_TARGET[kind] for kind in
                                      ("continuous", "binary", "categorical"))
    if output in REGRESSION:
        for values, name in ((y, source), (y_test, "the test set")):
            if values is not None and values.dtype.kind not in "biuf":
                raise CommandError(f"{name}: --output {output} needs numeric targets, got "
                                   f"labels like {str(values.flat[0])!r}")
        y = y.astype(np.float64)
        return y, y_test, None, 1 if y.ndim == 1 else y.shape[1], output
    if y.ndim != 1:
        raise CommandError(f"{source}: expected one label per sample, got labels of shape "
                           f"{y.shape} (use --output {regression} for several targets)")
    y, y_test = (_integral(values, source) for values in (y, y_test))
    everything = y if y_test is None else np.concatenate([y, y_test])
    classes = np.unique(everything)
    if known_classes is not None:
        if not np.all(np.isin(classes, known_classes)):
            raise CommandError(f"{source}: labels outside the classes {_show(known_classes)}")
        classes = known_classes
    if len(classes) < 2:
        raise CommandError(f"{source}: expected at least 2 classes, got only {str(classes[0])!r}")
    if output == "auto":
        output = binary if len(classes) == 2 else multiclass
    if output == binary and len(classes) != 2:
        raise CommandError(f"--output {binary}: expected 2 classes, the data have "
                           f"{len(classes)}; use {multiclass}")
    order = np.argsort(classes, kind="stable")

    def encode(values):
        if values is None:
            return None
        return order[np.searchsorted(classes, values, sorter=order)].astype(np.int64)
    n_out = 1 if output == binary else len(classes)
    return encode(y), encode(y_test), classes, n_out, output


def _integral(labels, source):
    """Float labels that are whole numbers as int64; others refused."""
    if labels is None or labels.dtype.kind != "f":
        return labels
    fractional = labels[labels != np.round(labels)]
    if fractional.size:
        raise CommandError(f"{source}: the labels are not integers (e.g. "
                           f"{float(fractional[0]):g}); use --output linear for regression")
    return labels.astype(np.int64)


def _check_out(path, what):
    """Refuse up front an output file whose folder does not exist."""
    writable_path(path, what)


def _resumed(path, fresh):
    """The network of checkpoint ``path``, which must have ``fresh``'s architecture."""
    import dnn

    if not Path(path).is_file():
        raise CommandError(f"--resume: no such file: {path}")
    network = dnn.load(path)
    described = (network.layer_dims, network.activations, network.output, network.dtype,
                 network.batch_norm)
    expected = (fresh.layer_dims, fresh.activations, fresh.output, fresh.dtype,
                fresh.batch_norm)
    if described != expected:
        raise CommandError(f"--resume: {path} holds a network {network!r}, this command "
                           f"trains {fresh!r}; give the same options as the first run")
    return network


def save_model(network, path, classes):
    """Network.save's file in one (atomic) write, the class labels in its
    metadata (``dnn.load(path).metadata["classes"]``)."""
    network.save(path, metadata=_metadata(network, classes))


def _metadata(network, classes):
    metadata = dict(network.metadata)
    if classes is not None:
        metadata[CLASSES_FIELD] = [label.decode() if isinstance(label, bytes) else label
                                   for label in np.asarray(classes).tolist()]
    return metadata


def _train(args):
    from dnn.network import Network

    if args.out:
        _check_out(args.out, "--out")
    if args.plot and not args.no_plot:
        _check_out(args.plot, "--plot")
    data = _flower() if args.data is None else read_data(args.data, args.dtype, args.target)
    X, y, X_test, y_test, test_from = _split(data, args.test_split, args.seed)
    y, y_test, classes, n_out, output = _encode(y, y_test, args.output, data.name,
                                                data.classes)
    comm, X_all, y_all = None, X, y
    if args.distributed:
        comm, share = _distributed_share(len(X))
        X, y = X[share], y[share]
    n_train = len(X)
    # (distributed: the same batch and epochs on every rank, from the largest share)
    rows = n_train if comm is None else -(-len(X_all) // comm.Get_size())
    batch = args.batch_size or (rows if rows <= 1024 else 128)
    batch = min(batch, rows)
    steps_per_epoch = math.ceil(rows / batch)
    epochs = args.epochs or min(3000, max(5, math.ceil(3000 / steps_per_epoch)))
    dims = [X.shape[1], *args.layers, n_out]
    keep_prob = None if args.dropout == 0 else 1.0 - args.dropout
    if keep_prob is not None and not args.layers:
        raise CommandError("--dropout: the network has no hidden layer to drop units from")
    network = Network(dims, args.activation, output, init="xavier" if args.activation in (
        "tanh", "sigmoid") else "he", dtype=args.dtype, seed=args.seed,
        batch_norm=args.batch_norm)
    if args.checkpoint:
        _check_out(args.checkpoint, "--checkpoint")
    if args.resume:
        network = _resumed(args.resume, network)
    network.metadata = _metadata(network, classes)
    print(f"data: {data.name}: {len(X_all)} training samples of {X.shape[1]} features"
          + (f", {len(X_test)} test samples ({test_from})" if X_test is not None else "")
          + (f", classes {_show(classes)}" if classes is not None else ""))
    print(f"network: {dims}, {args.activation} hidden, {output} output, {args.dtype}; "
          f"{args.optimizer} lr {args.lr:g}, {epochs} epochs of "
          + ("full batch" if batch >= rows else f"batches of {batch}")
          + (" per rank" if comm is not None else "")
          + (f", l2 {args.l2:g}" if args.l2 else "")
          + (f", dropout {args.dropout:g}" if keep_prob else "")
          + (", batch norm" if args.batch_norm else ""), flush=True)
    if args.resume:
        print(f"resumed from {args.resume} after {network.epochs_} epochs")
    history = network.fit(X, y, epochs=max(0, epochs - network.epochs_), batch_size=batch,
                          optimizer=args.optimizer, learning_rate=args.lr, l2=args.l2,
                          keep_prob=keep_prob, verbose=not args.quiet,
                          checkpoint=args.checkpoint, comm=comm)
    seconds = sum(history.seconds)
    if comm is not None:
        if comm.Get_rank() != 0:
            return 0
        X, y = X_all, y_all
    train_scores = network.evaluate(X, y)
    key = "mse" if output in REGRESSION else "accuracy"
    line = f"train {key}: {_score(train_scores[key], key)} (cost {(history.cost or [train_scores['cost']])[-1]:.4f})"
    if X_test is not None:
        line += f"   test {key}: {_score(network.evaluate(X_test, y_test)[key], key)}"
    print(f"{line}   [{seconds:.2f} s training]")
    if args.out:
        save_model(network, args.out, classes)
        print(f"model saved: {args.out}")
    if not args.no_plot:
        _plot(args, network, history, X, y, data.name)
    return 0


def _distributed_share(n_rows):
    """(MPI.COMM_WORLD, this rank's contiguous share of ``n_rows`` rows); the
    other ranks' standard output is silenced."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise CommandError('--distributed: mpi4py is not installed; pip install '
                           '"dnn-core[mpi]" and run under mpirun') from None
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if n_rows < size:
        raise CommandError(f"--distributed: {n_rows} training samples for {size} ranks")
    if rank != 0:
        sys.stdout = open(os.devnull, "w")
    else:
        print(f"distributed: {size} ranks, about {n_rows // size} training samples each")
    return comm, slice(rank * n_rows // size, (rank + 1) * n_rows // size)


def _show(classes):
    shown = [str(c) for c in classes[:10]]
    return "[" + ", ".join(shown) + (", ..." if len(classes) > 10 else "") + "]"


def _score(value, key):
    return f"{value:.1%}" if key == "accuracy" else f"{value:.6g}"


def _plot(args, network, history, X, y, name):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print('(no plot: matplotlib is not installed; pip install "dnn-core[plot]")')
        return
    from dnn import plot

    path = args.plot or str(Path(args.out or "dnn-model.npz").with_suffix(".png"))
    two_d = X.shape[1] == 2 and network.output not in REGRESSION
    figure = Figure(figsize=(11 if two_d else 6, 4.5), layout="constrained")
    axes = figure.subplots(1, 2 if two_d else 1, squeeze=False)[0]
    plot.cost_curve(history, ax=axes[0])
    if two_d:
        plot.decision_boundary(network, X, y, ax=axes[1])
    figure.suptitle(f"{name}: {network.layer_dims}")
    with atomic_write(path) as file:
        figure.savefig(file, format="png", dpi=100)
    print(f"plot saved: {path} (cost curve" + (" and decision boundary)" if two_d else ")"))


# ---------------------------------------------------------------------------
# predict, info, bench

def _load_model(path):
    import dnn

    if not Path(path).is_file():
        raise CommandError(f"--model: no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a dnn model file (expected an .npz archive)")
    network = dnn.load(path)
    with np.load(path, allow_pickle=False) as archive:
        # (files of dnn-core 0.1 kept the classes in a field of their own)
        classes = archive[CLASSES_FIELD] if CLASSES_FIELD in archive.files else None
    if classes is None and CLASSES_FIELD in network.metadata:
        classes = np.asarray(network.metadata[CLASSES_FIELD])
    if classes is not None and (classes.ndim != 1 or len(classes) != max(
            2, network.layer_dims[-1]) or network.output in REGRESSION):
        raise ValueError(f"{path}: damaged model file: {len(classes)} classes for a "
                         f"{network.output} output of {network.layer_dims[-1]} units")
    optimizer = None if network.optimizer is None else network.optimizer.name
    return network, classes, optimizer


def _predict(args):
    if args.out:
        _check_out(args.out, "--out")
    network, classes, _ = _load_model(args.model)
    n_features = network.layer_dims[0]
    data = read_data(args.data, network.dtype.name, args.target, need_target=False,
                     n_features=n_features)
    X = data.X
    if X.shape[1] != n_features:
        raise CommandError(f"{data.name}: {X.shape[1]} features per sample, the model "
                           f"{args.model} expects {n_features}")
    predictions = network.predict(X)
    if classes is not None:
        predictions = classes[predictions]
    if data.y is not None and network.output not in REGRESSION:
        truth, shown = data.y.astype(str), predictions.astype(str)
        if truth.shape == shown.shape:
            accuracy = np.mean(truth == shown)
            print(f"accuracy: {accuracy:.1%} on {len(X)} samples", file=sys.stderr)
    lines = [",".join(_text(v) for v in np.atleast_1d(row)) for row in predictions]
    if args.out:
        with atomic_write(args.out, "w") as file:
            file.write("prediction\n" + "".join(line + "\n" for line in lines))
        print(f"{len(lines)} predictions written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


def _text(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def _info(args):
    network, classes, optimizer = _load_model(args.model)
    dims = network.layer_dims
    hidden = ", ".join(f"{n} {a}" for n, a in zip(dims[1:-1], network.activations))
    print(f"model: {args.model}")
    print(f"layers: {dims} (input {dims[0]}; hidden: {hidden or 'none'}; "
          f"output {dims[-1]} {network.output}, loss {network.loss})")
    print(f"dtype: {network.dtype.name}")
    if any(network.batch_norm):
        print(f"batch norm: hidden layers "
              f"{[l for l, flag in enumerate(network.batch_norm, start=1) if flag]}")
    print(f"parameters: {network.n_parameters}")
    print(f"epochs trained: {network.epochs_}")
    print(f"optimizer: {optimizer or 'not saved'}")
    if classes is not None:
        print(f"classes: {_show(classes)}")
    return 0


def _bench(args):
    from dnn import _bench

    _bench.run(repeats=args.repeats)
    return 0


def main(argv=None):
    """Run the command line; returns the exit status (0, or 2 on an error)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already reported
        return stop.code or 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from dnn.distributed import DistributedError
    from dnn.network import DivergenceError

    run = {"train": _train, "predict": _predict, "info": _info, "bench": _bench}[args.command]
    try:
        return run(args)
    except (CommandError, ValueError, TypeError, OSError, ImportError,
            DivergenceError, DistributedError) as error:
        message = str(error)
        if isinstance(error, OSError) and error.filename is not None and error.strerror:
            message = f"{error.filename}: {error.strerror}"
        print("dnn: error: " + " ".join(message.split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
