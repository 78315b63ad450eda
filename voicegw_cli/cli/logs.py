"""`voicegw logs`: the newest line items, filtered."""

from __future__ import annotations

from typing import Annotated

import typer

from voicegw_cli.cli.output import Format, FormatOpt
from voicegw_cli.cli.periods import EndOpt, PeriodOpt, ProjectOpt, StartOpt
from voicegw_cli.items import MODALITIES
from voicegw_cli.periods import SINCE_HELP


def _modality(value: str | None) -> str | None:
    if value is not None and value not in MODALITIES:
        raise typer.BadParameter(f"must be one of {', '.join(MODALITIES)}")
    return value


def register(app: typer.Typer) -> None:
    @app.command()
    def logs(
        project: ProjectOpt = None,
        modality: Annotated[
            str | None, typer.Option("--modality", callback=_modality, help="stt|llm|tts|realtime")
        ] = None,
        provider: Annotated[str | None, typer.Option("--provider")] = None,
        model: Annotated[str | None, typer.Option("--model")] = None,
        session: Annotated[str | None, typer.Option("--session", help="A session id.")] = None,
        since: Annotated[str | None, typer.Option("--since", help=SINCE_HELP + ".")] = None,
        period: PeriodOpt = None,
        start: StartOpt = None,
        end: EndOpt = None,
        n: Annotated[int, typer.Option("-n", "--limit", min=1, max=100000)] = 20,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """The newest line items first."""
        from voicegw_cli.cli.context import open_store
        from voicegw_cli.cli.output import cost, emit
        from voicegw_cli.reports import log_items

        with open_store() as store:
            rows = log_items(
                store,
                limit=n,
                since=since,
                period=period,
                start=start,
                end=end,
                project=project,
                modality=modality,
                provider=provider,
                model=model,
                session_id=session,
            )
        if fmt is not Format.table:
            emit(rows, fmt=fmt)
            return

        def units(r: dict) -> str:
            if r["modality"] == "stt":
                return f"{r['audio_seconds']:,.1f} s audio"
            if r["modality"] == "tts":
                return f"{r['characters']:,} chars"
            s = f"{r['input_tokens']:,} in"
            if r["cached_input_tokens"]:
                s += f"\n{r['cached_input_tokens']:,} cached"
            return s + f"\n{r['output_tokens']:,} out"

        emit(
            rows,
            fmt=fmt,
            title=f"Latest {len(rows)} line items",
            columns=[
                "timestamp",
                "project",
                "modality",
                "provider",
                "model",
                "units",
                "cost_usd",
                "pricing_source",
                "session_id",
            ],
            cells={
                "timestamp": lambda r: r["timestamp"][:19] + "Z",  # to the second
                "units": units,
                "cost_usd": lambda r: cost(r["cost_usd"], places=6),
            },
            optional=["session_id", "pricing_source", "modality"],
        )
