"""The Network side of the file format: :meth:`dnn.Network.save`, pickling and
ONNX export, as a mixin of :class:`dnn.Network` (the file itself, reading and
every check: :mod:`dnn._model_file`; :func:`dnn.load` reads a file and
rebuilds the network with ``Network._from_fields``)."""
from dnn import _model_file as model_file
from dnn._files import file_name

__all__ = ["NetworkFiles"]


class NetworkFiles:
    """Saving a network: a base of :class:`dnn.Network`, whose attributes it
    reads (the architecture, ``epochs_``, ``metadata``, and its engine, engine
    lock, optimizer and generator of initial weights)."""

    def save(self, path, optimizer_state=True, metadata=None):
        """Write the network to ``path`` (.npz; no pickle).

        With ``optimizer_state`` the file holds everything that decides how
        training continues (the optimizer, its moments and step count, the
        generator of shuffles and dropout masks, the epoch count), so that
        ``load(path).fit(...)`` continues exactly as this network would.

        Parameters
        ----------
        path : str or os.PathLike
        optimizer_state : bool
        metadata : dict or None
            JSON-able values saved with the network (``load`` gives them back
            as ``network.metadata``); None: ``self.metadata``.
        """
        # every field first (under the engine's lock), then written atomically
        name = file_name(path)
        model_file.write(name, self._fields(optimizer_state, metadata))

    def _fields(self, optimizer_state, metadata=None):
        """The arrays of the file format (:mod:`dnn._model_file`), copies taken
        under the engine's lock: a fit in another thread is not halfway through
        a step (this waits for its current training call)."""
        metadata = self.metadata if metadata is None else metadata
        model_file.metadata_json(metadata)  # (refused before the lock is taken)
        engine = self._engine
        with self._engine_lock:
            state = dict(layer_dims=self.layer_dims, activations=self.activations,
                         output=self.output, init=self.init, dtype=self.dtype,
                         slope=self.slope, epochs=self.epochs_,
                         parameters=engine.parameters.copy())
            if any(self.batch_norm):
                state.update(batch_norm=self.batch_norm,
                             running_stats=engine.running_statistics.copy())
            if optimizer_state:
                state.update(rng_state=engine.rng_state,
                             init_rng_state=self._rng.bit_generator.state)
            if optimizer_state and self._optimizer is not None:
                state.update(optimizer=self._optimizer, moments=engine.moments.copy(),
                             step_count=engine.step_count)
        return model_file.encode(state, metadata)

    def _restore(self, state):
        """Put a saved state (:func:`dnn._model_file.decode`'s) in place."""
        engine = self._engine
        engine.parameters[...] = state["parameters"]
        self.epochs_ = state["epochs"]
        if "running_stats" in state:
            engine.running_statistics[...] = state["running_stats"]
        if "metadata" in state:
            self.metadata = state["metadata"]
        if "rng_state" in state:
            engine.rng_state = state["rng_state"]
        if "init_rng_state" in state:
            self._rng.bit_generator.state = state["init_rng_state"]
        if "optimizer" in state:
            engine.moments[...] = state["moments"]
            engine.step_count = state["step_count"]
            self._optimizer = state["optimizer"]

    @classmethod
    def _from_fields(cls, fields, name):
        """A network of class ``cls`` rebuilt from the arrays of the file format
        (every field checked by :func:`dnn._model_file.decode`; ``name``, of
        the file, in its messages)."""
        def build(layer_dims, activations, output, init, dtype, slope, batch_norm=False):
            return cls(layer_dims, activations, output, init, dtype, slope=slope,
                       batch_norm=batch_norm)

        network, state = model_file.decode(fields, name, build)
        network._restore(state)
        return network

    def __getstate__(self):
        # pickled as the fields of the file format (the engine is a C object)
        return {"fields": self._fields(True), "seed": self.seed, "n_threads": self.n_threads,
                "first_layer": self.first_layer}

    def to_onnx(self, path=None, opset=None):
        """The network as an ONNX model (Gemm and activation nodes) computing
        ``predict_proba``; needs ``pip install "dnn-core[onnx]"``.

        Parameters
        ----------
        path : str, os.PathLike or None
            Where to write the model (.onnx); None: only return it.
        opset : int or None
            ONNX operator set; None: ``dnn._onnx.DEFAULT_OPSET`` (18).

        Returns
        -------
        onnx.ModelProto
            Input "X" (batch, n_features), output "probabilities" (sigmoid,
            softmax) or "predictions" (linear) (batch, n_out), both in the
            network's dtype. See :func:`dnn._onnx.to_onnx`.
        """
        from dnn._onnx import to_onnx

        return to_onnx(self, path, opset)
