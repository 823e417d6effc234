"""The ``loyalty`` console script: thin commands that call into the product packages.

Our packages and heavy libraries (pandas, mlflow, evidently, shap) are imported inside the
commands so that ``loyalty --help`` stays instant; the rest imports at the top of each module.
"""

from __future__ import annotations

import typer
import typer.core

from loyalty.commands import audit as audit_commands
from loyalty.commands import dataset as dataset_commands
from loyalty.commands import demo as demo_commands
from loyalty.commands import drift as drift_commands
from loyalty.commands import events as events_commands
from loyalty.commands import features as features_commands
from loyalty.commands import ledger as ledger_commands
from loyalty.commands import monitor as monitor_commands
from loyalty.commands import policy as policy_commands
from loyalty.commands import promote as promote_commands
from loyalty.commands import replay as replay_commands
from loyalty.commands import review as review_commands
from loyalty.commands import score_batch as score_batch_commands
from loyalty.commands import serve as serve_commands
from loyalty.commands import simulate as simulate_commands
from loyalty.commands import train as train_commands


def _flags_without_type() -> None:
    """Help shows a boolean flag as ``--flag`` (or ``--flag/--no-flag``), never ``--flag <bool>``.

    Typer 0.29 prints a type for every option, flags included, although a flag takes no value.
    Idempotent: applied once however often this module is reloaded.
    """
    shown = typer.core.TyperOption.display_type_rich
    if getattr(shown, "flags_without_type", False):
        return

    def display_type_rich(self: typer.core.TyperOption, ctx) -> str | None:
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    display_type_rich.flags_without_type = True  # type: ignore[attr-defined]
    typer.core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_type()
app = typer.Typer(
    name="loyalty",
    help="Loyalty decisioning for long-term OEM contracts: simulate, validate, train, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(events_commands.app, name="events")
app.add_typer(dataset_commands.app, name="dataset")
app.add_typer(features_commands.app, name="features")
app.add_typer(policy_commands.app, name="policy")
app.add_typer(ledger_commands.app, name="ledger")
app.add_typer(review_commands.app, name="review")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(monitor_commands.app, name="monitor")
simulate_commands.register(app)
demo_commands.register(app)
train_commands.register(app)
score_batch_commands.register(app)
serve_commands.register(app)
promote_commands.register(app)
drift_commands.register(app)
replay_commands.register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
