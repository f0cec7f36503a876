"""The ``sentiment`` command line, assembled from the commands each room keeps beside its code.

data (fetch, ingest, split, feedback), training (train, evaluate, compare), registry (register,
promote, restore-champion, export), batch (predict), serving (serve), workspace (stack, loop,
monitoring) and autoscaling (autoscale). A command parses its options and calls the module that
does the work; heavy imports happen inside the commands so ``sentiment --help`` stays instant.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from sentiment_mlops.autoscaling.commands import app as autoscale_app
from sentiment_mlops.batch.commands import predict
from sentiment_mlops.data.commands import feedback_app, fetch, ingest, split
from sentiment_mlops.registry.commands import export, promote, register, restore_champion
from sentiment_mlops.serving.commands import serve, shadow_app
from sentiment_mlops.training.commands import compare, evaluate, train
from sentiment_mlops.workspace.commands import loop, monitoring_app
from sentiment_mlops.workspace.stack import stack

app = typer.Typer(
    name="sentiment",
    help="Sentiment analysis of movie reviews: train, track, register, serve and scale.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# In the order of a model's life: data, training, registry, scoring, serving, the workspace's tools.
COMMANDS: dict[str, Callable[..., None]] = {
    "fetch": fetch,
    "ingest": ingest,
    "split": split,
    "train": train,
    "evaluate": evaluate,
    "compare": compare,
    "register": register,
    "promote": promote,
    "restore-champion": restore_champion,
    "export": export,
    "predict": predict,
    "serve": serve,
    "stack": stack,
    "loop": loop,
}
for name, command in COMMANDS.items():
    app.command(name)(command)
app.add_typer(feedback_app, name="feedback")
app.add_typer(monitoring_app, name="monitoring", help="Prometheus rules and dashboards.")
app.add_typer(autoscale_app, name="autoscale", help="Predictive autoscaling: scaler, simulator, backtest.")
app.add_typer(shadow_app, name="shadow")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    """Configure logging once, here, never at import time."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
