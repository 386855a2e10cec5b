"""The ``dnn`` command."""
import argparse
import sys
import time

import numpy as np

from dnn import datasets
from dnn import functional as F


def _layer_sizes(text):
    try:
        sizes = [int(size) for size in text.split(",") if size.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--layers: expected comma-separated sizes >= 1 such as 8,4, "
                         f"got {text!r}")
    return sizes


def _train(args):
    if args.iterations < 0:
        raise ValueError(f"--iterations: expected a number >= 0, got {args.iterations}")
    if args.print_every < 1:
        raise ValueError(f"--print-every: expected a number >= 1, got {args.print_every}")
    X, Y = datasets.make_flower(m=args.m, seed=1)
    hidden = _layer_sizes(args.layers)
    layer_dims = [X.shape[0], *hidden, 1]
    parameters = F.initialize_parameters(layer_dims, init=args.init, seed=args.seed)
    print(f"flower dataset: X {X.shape}, network {layer_dims}, {args.activation} hidden "
          f"units, sigmoid output, gradient descent, learning rate {args.lr}")
    start = time.perf_counter()
    for iteration in range(args.iterations + 1):
        AL, caches = F.forward(X, parameters, args.activation, "sigmoid")
        if iteration % args.print_every == 0 or iteration == args.iterations:
            cost = F.compute_cost(caches[-1][1], Y, from_logits=True)
            print(f"iteration {iteration:6d}  cost {cost:.6f}")
        if iteration == args.iterations:
            break
        grads = F.backward(AL, Y, caches, args.activation, "sigmoid")
        F.update_parameters(parameters, grads, args.lr, inplace=True)
    elapsed = time.perf_counter() - start
    predictions = F.predict(X, parameters, args.activation, "sigmoid")
    accuracy = np.mean(predictions == Y)
    print(f"training accuracy: {accuracy:.1%} ({elapsed:.2f} s)")
    return 0


def _parser():
    parser = argparse.ArgumentParser(prog="dnn", description="dnn-core: deep networks on "
                                     "compiled kernels.")
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train", help="train a network on the built-in flower dataset")
    train.add_argument("--layers", default="4", help="hidden layer sizes, e.g. 8,4 (default 4)")
    train.add_argument("--activation", default="tanh",
                       choices=["relu", "tanh", "sigmoid", "leaky_relu", "identity"])
    train.add_argument("--lr", type=float, default=1.2, help="learning rate (default 1.2)")
    train.add_argument("--iterations", type=int, default=10000)
    train.add_argument("--init", default="course", choices=list(F.INITS))
    train.add_argument("--seed", type=int, default=2)
    train.add_argument("--m", type=int, default=400, help="number of points (default 400)")
    train.add_argument("--print-every", type=int, default=1000)
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _train(args)
    except (ValueError, TypeError) as error:
        print(f"dnn: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
