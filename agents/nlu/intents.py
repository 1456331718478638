"""The intent classifier: MiniLM sentence embeddings and a multinomial logistic regression,
trained on the labelled utterances in `utterances.yaml`.

Training takes well under a second once the utterances are embedded, and their embeddings are
cached by text hash under the var dir, so a process builds the classifier at start-up when the
registry holds none. `train_intent_classifier` saves one as a version of `intent-classifier` in
the registry (its weights and classes, never a pickle; lineage: the utterances' hash, the encoder,
C), and a process serves the champion (`served_intent_classifier`), so `aisle models
promote|rollback intent-classifier` decides what the local brain understands from its next start.
A message costs one embedding (about 7 ms) and one matrix product.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

import numpy as np
import yaml

from ml_core.registry import ArtifactRegistry, Manifest, Stage

UTTERANCES = Path(__file__).with_name("utterances.yaml")
Encoder = Callable[[Sequence[str]], np.ndarray]
ARTIFACT = "intent-classifier"
WEIGHTS = "weights.npz"
CLASSES = "classes.json"


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

    def save(self, folder: Path) -> None:
        """The fitted weights and classes as plain files (a registry version's)."""
        np.savez(folder / WEIGHTS, coef=self.coef_, intercept=self.intercept_)
        (folder / CLASSES).write_text(json.dumps(self.classes_))

    @classmethod
    def load(cls, folder: Path, encode: Encoder, *, c: float) -> Self:
        classifier = cls(encode, c=c)
        with np.load(folder / WEIGHTS) as weights:
            classifier.coef_ = weights["coef"]
            classifier.intercept_ = weights["intercept"]
        classifier.classes_ = [str(x) for x in json.loads((folder / CLASSES).read_text())]
        return classifier


def train_intent_classifier(
    registry: ArtifactRegistry,
    encode: Encoder,
    encode_many: Encoder | None = None,
    *,
    encoder: str,
    utterances: Path = UTTERANCES,
    c: float = 8.0,
    stage: Stage = "champion",
    by: str = "system",
    reason: str = "trained",
) -> Manifest:
    """Fit the classifier on `utterances` with the sentence encoder named `encoder` and save it
    as a version in `stage`; its training accuracy is recorded with it."""
    data = load_utterances(utterances)
    classifier = IntentClassifier(encode, c=c).fit(data, encode_many)
    texts = [u for examples in data.values() for u in examples]
    labels = [intent for intent, examples in data.items() for _ in examples]
    vectors = (encode_many or encode)(texts)
    predicted = np.asarray(classifier.classes_)[
        np.argmax(vectors @ classifier.coef_.T + classifier.intercept_, axis=1)
    ]
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return registry.save(
        name=ARTIFACT,
        kind=ARTIFACT,
        data_hash=hashlib.sha256(canonical).hexdigest(),
        write=classifier.save,
        parameters={"model": "logistic-regression", "encoder": encoder, "c": c,
                    "utterances": utterances.name},
        metrics={
            "utterances": len(texts),
            "intents": len(data),
            "training_accuracy": float(np.mean(predicted == np.asarray(labels))),
        },
        stage=stage,
        by=by,
        reason=reason,
    )  # fmt: skip


def served_intent_classifier(
    artifacts: Path, encode: Encoder
) -> tuple[IntentClassifier, str] | None:
    """The registry's champion classifier (its files verified) and its version; None when there
    is no champion."""
    registry = ArtifactRegistry(artifacts)
    if registry.ledger(ARTIFACT).champion is None:
        return None
    manifest, folder = registry.active(ARTIFACT)
    return IntentClassifier.load(
        folder, encode, c=float(manifest.parameters["c"])
    ), manifest.version
