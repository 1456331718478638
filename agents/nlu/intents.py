"""The intent classifier: MiniLM sentence embeddings and a multinomial logistic regression,
trained on the labelled utterances in `utterances.yaml`.

Training takes well under a second once the utterances are embedded, and their embeddings are
cached by text hash under the var dir, so a process builds the classifier at start-up instead of
shipping a pickled model. A message costs one embedding (about 7 ms) and one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np
import yaml

UTTERANCES = Path(__file__).with_name("utterances.yaml")
Encoder = Callable[[Sequence[str]], np.ndarray]


def load_utterances(path: Path = UTTERANCES) -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(intent): [str(u) for u in examples] for intent, examples in data.items()}


class IntentClassifier:
    """`fit` on {intent: utterances}; `predict` gives (intent, probability) for a message."""

    def __init__(self, encode: Encoder, *, c: float = 8.0) -> None:
        self.encode = encode
        self.c = c

    def fit(
        self, utterances: Mapping[str, Sequence[str]], encode_many: Encoder | None = None
    ) -> Self:
        """Train; `encode_many` embeds the training set when it should differ from `encode`
        (a disk-cached encoder, so that a restart embeds nothing it embedded before)."""
        from sklearn.linear_model import LogisticRegression

        texts = [u for examples in utterances.values() for u in examples]
        labels = [intent for intent, examples in utterances.items() for _ in examples]
        model = LogisticRegression(C=self.c, max_iter=2000)
        model.fit((encode_many or self.encode)(texts), labels)
        self.classes_: list[str] = [str(c) for c in model.classes_]
        self.coef_: np.ndarray = model.coef_.astype(np.float32)
        self.intercept_: np.ndarray = model.intercept_.astype(np.float32)
        return self

    def probabilities(self, text: str) -> dict[str, float]:
        vector = self.encode([text])[0]
        logits = self.coef_ @ vector + self.intercept_
        exp = np.exp(logits - logits.max())
        probs = exp / exp.sum()
        return dict(zip(self.classes_, probs.tolist(), strict=True))

    def predict(self, text: str, allowed: set[str] | None = None) -> tuple[str, float]:
        """The most probable intent among `allowed` (all when None), and its probability."""
        probs = self.probabilities(text)
        candidates = {k: v for k, v in probs.items() if allowed is None or k in allowed}
        intent = max(candidates, key=candidates.__getitem__)
        return intent, candidates[intent]
