"""`aisle nlu train`: the local brain's intent classifier trained into the model registry."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from api.commands.common import JsonFlag, artifact_registry, print_json, registered_as

nlu_app = typer.Typer(help="The local brain's intent classifier.", no_args_is_help=True)


@nlu_app.command("train")
def train_cmd(
    utterances: Annotated[
        Path | None,
        typer.Option(
            "--utterances",
            help="Labelled utterances, {intent: [utterance, ...]} in YAML (default: the "
            "project's agents/nlu/utterances.yaml).",
        ),
    ] = None,
    candidate: Annotated[
        bool,
        typer.Option(
            "--candidate",
            help="Register it as a challenger: the assistant serves it only once "
            "`aisle models promote intent-classifier` makes it champion.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Train the intent classifier and save it as a version of `intent-classifier` in the
    registry (champion by default); the assistant serves the champion from its next start."""
    from agents.nlu.intents import UTTERANCES, train_intent_classifier
    from ml_core.recommend.features import TEXT_MODEL, embed_texts
    from retail.errors import AisleError
    from retail.settings import get_settings

    path = utterances or UTTERANCES
    if not path.is_file():
        raise AisleError(f"No utterances file at {path}.")
    cache = get_settings().var_dir / "cache"
    manifest = train_intent_classifier(
        artifact_registry(),
        embed_texts,
        lambda texts: embed_texts(texts, cache),
        encoder=TEXT_MODEL,
        utterances=path,
        **registered_as(candidate),
    )
    if as_json:
        print_json(asdict(manifest))
        return
    typer.echo(
        f"intent-classifier version {manifest.version} "
        f"({'candidate' if candidate else 'champion'}): {manifest.metrics['intents']} intents "
        f"from {manifest.metrics['utterances']} utterances, training accuracy "
        f"{manifest.metrics['training_accuracy']:.3f}"
    )
