"""Run-time affect classifier: onnxruntime + tokenizers + numpy, never torch.

One ONNX graph per variant takes token ids and returns emotion probabilities,
moral probabilities and the L2-normalised pooled sentence embedding.

Exactness: dynamic int8 quantization picks one activation scale per tensor,
so in a padded batch every text's scores depend on the other texts (measured:
probabilities moved by up to 0.24 between batch sizes 1 and 8). By default
(``exact=True``) each text therefore runs as its own one-row call, with the
calls spread over a thread pool (onnxruntime releases the GIL), so a text's
scores never depend on its neighbours and the embedded and Kafka paths agree
exactly. ``exact=False`` runs length-sorted padded batches instead. A graph
quantized with static activation scales (``models/training/quantize_static.py``)
is batch-independent; its meta.json says so and exact mode then batches.

Truncation policy (documented in the model card): text is first cut to its
first and last ``MAX_CHARS // 2`` characters so that a megabyte of text costs no
more to tokenize than a page; then, if it still has more than ``max_tokens``
word pieces, the first and last halves of the allowed pieces are kept (head +
tail, as in Sun et al. 2019), because LM responses put their stance at the start
and their conclusion at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from models import ARTIFACTS
from models.labels import EMOTIONS, MORALS

MAX_CHARS = 16_000
DEFAULT_MAX_TOKENS = 256


class InvalidText(ValueError):
    """A text the classifier cannot take (not a string, or not decodable)."""


def clean_text(text: object) -> str:
    """Accept str (or UTF-8 bytes); replace lone surrogates; cap the length."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidText(f"text is not valid UTF-8: {exc}") from exc
    if not isinstance(text, str):
        raise InvalidText(f"text must be a string, got {type(text).__name__}")
    # Lone surrogates (from JSON "\udcxx" escapes) cannot be tokenized.
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        text = text[:half] + " " + text[-half:]
    return text


@dataclass(frozen=True)
class Scores:
    """Scores of one text, in label order."""

    emotion: np.ndarray  # (11,) probabilities
    moral: np.ndarray  # (5,) probabilities
    embedding: np.ndarray  # (384,) unit vector
    n_tokens: int
    truncated: bool


@dataclass
class Classifier:
    """Loads a shipped variant (``int8`` or ``fp32``) from ``models/artifacts``."""

    variant: str = "int8"
    artifacts: Path = ARTIFACTS
    threads: int = 0  # 0: one per core
    max_tokens: int = DEFAULT_MAX_TOKENS
    batch_size: int = 16
    exact: bool = True
    _session: ort.InferenceSession = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.artifacts = Path(self.artifacts)
        path = self.model_path
        if not path.is_file():
            raise FileNotFoundError(f"classifier graph {path} is missing; run `make train` to rebuild it")
        if self.max_tokens < 8 or self.max_tokens > 512:
            raise ValueError("max_tokens must lie in 8..512 (the encoder has 512 positions)")
        opts = ort.SessionOptions()
        self.workers = self.threads or (os.cpu_count() or 1)
        # A graph with static activation scales (meta "batch_independent") gives
        # every text the same scores in any batch, so exact mode may batch.
        per_text = self.exact and not self.batch_independent
        # One thread per call, calls in parallel over the pool: one text a call,
        # or one length-sorted mini-batch a call. Measured on 2 cores, this beats
        # one batch split over threads inside a call by about 1.6x.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(self.artifacts / "tokenizer.json"))
        # The shipped tokenizer.json pads to 128 and truncates: we pad per batch.
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._per_text = per_text
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="affect")
        self._cls = self._tokenizer.token_to_id("[CLS]")
        self._sep = self._tokenizer.token_to_id("[SEP]")

    @property
    def model_path(self) -> Path:
        return self.artifacts / f"affect-{self.variant}.onnx"

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.artifacts / "meta.json").read_text())

    @cached_property
    def moral_labels(self) -> tuple[str, ...]:
        """The moral labels the graph measures, in its output order (affect-1:
        five; affect-2 adds purity). ``predict`` returns every label of
        ``MORALS``; one the graph does not measure has probability 0 and is never set."""
        labels = tuple(self.meta.get("labels", {}).get("moral", MORALS))
        unknown = set(labels) - set(MORALS)
        if unknown:
            raise ValueError(f"graph {self.model_path} has moral labels this release does not know: {sorted(unknown)}")
        return labels

    @cached_property
    def _moral_columns(self) -> list[int]:
        """Where each of the graph's moral outputs goes among ``MORALS``."""
        return [MORALS.index(name) for name in self.moral_labels]

    @property
    def batch_independent(self) -> bool:
        """Whether this variant's scores are the same in any batch (static
        quantization scales, or fp32), as measured at export."""
        return bool(self.meta.get("batch_independent", {}).get(self.variant, False))

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.model_path.read_bytes()).hexdigest()

    @property
    def version(self) -> str:
        """What every score carries: release, variant and a hash of the graph."""
        return f"{self.meta['release']}-{self.variant}-{self.sha256[:12]}"

    @property
    def thresholds(self) -> dict[str, np.ndarray]:
        moral = np.full(len(MORALS), np.inf, dtype=np.float32)  # a label not measured is never set
        moral[self._moral_columns] = np.asarray(self.meta["thresholds"]["moral"], dtype=np.float32)
        return {"emotion": np.asarray(self.meta["thresholds"]["emotion"], dtype=np.float32), "moral": moral}

    def _ids(self, enc: Encoding) -> tuple[list[int], bool]:
        ids = enc.ids
        if len(ids) <= self.max_tokens:
            return ids, False
        body = ids[1:-1]
        room = self.max_tokens - 2
        head = room - room // 2
        return [self._cls, *body[:head], *body[len(body) - room // 2 :], self._sep], True

    def encode(self, texts: Sequence[object]) -> list[tuple[list[int], bool]]:
        cleaned = [clean_text(t) for t in texts]
        return [self._ids(enc) for enc in self._tokenizer.encode_batch(cleaned)]

    def _run(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        emo, mor, emb = self._session.run(["emotion_probs", "moral_probs", "embedding"], feed)
        return emo, mor, emb

    def predict(self, texts: Sequence[object]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[bool]]:
        """Arrays (N,11), (N,6), (N,384) in input order, plus token counts and truncation flags.

        Exact mode: one call per text over the thread pool; batch mode:
        length-sorted micro-batches so padding stays small.
        """
        encoded = self.encode(texts)
        n = len(encoded)
        emo = np.zeros((n, len(EMOTIONS)), dtype=np.float32)
        mor = np.zeros((n, len(MORALS)), dtype=np.float32)
        emb = np.zeros((n, 384), dtype=np.float32)
        if self._per_text:
            chunks = [[i] for i in range(n)]
        else:
            # Length-sorted, so padding stays small; no larger than needed to
            # give every worker a share of a small call.
            order = sorted(range(n), key=lambda i: len(encoded[i][0]))
            size = max(1, min(self.batch_size, -(-n // self.workers)))
            chunks = [order[start : start + size] for start in range(0, n, size)]
        outputs = self._pool.map(lambda idx: self._run([encoded[i][0] for i in idx]), chunks)
        cols = self._moral_columns
        for idx, (e, m, v) in zip(chunks, outputs, strict=True):
            emo[idx], emb[idx] = e, v
            mor[np.ix_(idx, cols)] = m
        return emo, mor, emb, [len(ids) for ids, _ in encoded], [t for _, t in encoded]

    def score(self, texts: Sequence[object]) -> list[Scores]:
        emo, mor, emb, lengths, truncated = self.predict(texts)
        return [Scores(emo[i], mor[i], emb[i], lengths[i], truncated[i]) for i in range(len(lengths))]

    def labels(self, scores: Scores) -> dict[str, list[str]]:
        th = self.thresholds
        return {
            "emotion": [name for name, p, t in zip(EMOTIONS, scores.emotion, th["emotion"], strict=True) if p >= t],
            "moral": [name for name, p, t in zip(MORALS, scores.moral, th["moral"], strict=True) if p >= t],
        }
