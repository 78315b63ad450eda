"""Runtime projects: CRUD and validation in the library and the CLI, the merge with
voicegw.yaml, the two-phase delete that keeps line items, and the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from voicegw_cli import projects as P
from voicegw_cli.cli.app import app
from voicegw_cli.config import merged_projects
from voicegw_cli.spool import SpoolWriter
from voicegw_cli.store import Store

from .conftest import BASIC_YAML, item

runner = CliRunner()


def cli(config, *args: str, input: str | None = None):
    return runner.invoke(app, ["--config", str(config.path), *args], input=input)


def _usage(config, project: str, *costs: str, when: datetime | None = None) -> None:
    """Line items for `project` through the spool, as the hook writes them."""
    when = when or datetime(2026, 11, 10, 12, tzinfo=UTC)
    w = SpoolWriter(config.spool_dir)
    w.write(
        [
            item(
                id=f"{project}-{i}",
                project=project,
                timestamp=when + timedelta(minutes=i),
                cost_usd=Decimal(c),
            ).to_record()
            for i, c in enumerate(costs)
        ]
    )
    w.close()


# ------------------------------------------------------------------ library


def test_create_merges_with_yaml_and_names_the_source(config) -> None:
    with Store.open(config) as store:
        p = P.create_project(
            config,
            store.conn,
            "tonys-pizza",
            name="Tony's Pizza",
            description="AI receptionist",
            daily_budget=5,
            monthly_budget="120.50",
            budget_action="throttle",
            tags=["prod", "client-ian", "prod"],
            default_stack="premium",
        )
        merged = merged_projects(config, store.conn)
    assert p.source == "db" and p.daily_budget == Decimal("5")
    assert p.monthly_budget == Decimal("120.5") and p.tags == ["prod", "client-ian"]
    assert {k: v.source for k, v in merged.items()} == {
        "support": "yaml",
        "sales": "yaml",
        "default": "yaml",
        "tonys-pizza": "db",
    }
    assert merged["tonys-pizza"].default_stack == "premium"


def test_yaml_wins_on_a_conflicting_id(config, write_config) -> None:
    with Store.open(config) as store:
        P.create_project(config, store.conn, "newbot", name="From the store", daily_budget=1)
    cfg = write_config(
        BASIC_YAML.replace(
            "stacks:", "  newbot:\n    name: From YAML\n    daily_budget: 9\nstacks:"
        )
    )
    with Store.open(cfg) as store:
        merged = merged_projects(cfg, store.conn)
        with pytest.raises(P.ReadOnlyProjectError):
            P.update_project(cfg, store.conn, "newbot", {"name": "x"})
    assert merged["newbot"].source == "yaml" and merged["newbot"].name == "From YAML"
    res = cli(cfg, "projects", "-f", "json")
    rows = {r["id"]: r for r in json.loads(res.stdout)}
    assert rows["newbot"]["source"] == "yaml" and rows["support"]["source"] == "yaml"


@pytest.mark.parametrize(
    "pid,kwargs,error,field",
    [
        ("support", {}, P.ProjectExistsError, None),  # taken by voicegw.yaml
        ("has space", {}, P.ProjectValidationError, "project_id"),
        ("-leading", {}, P.ProjectValidationError, "project_id"),
        ("x" * 65, {}, P.ProjectValidationError, "project_id"),
        ("ok", {"name": "  "}, P.ProjectValidationError, "name"),
        ("ok", {"daily_budget": -1}, P.ProjectValidationError, "daily_budget"),
        ("ok", {"monthly_budget": "abc"}, P.ProjectValidationError, "monthly_budget"),
        ("ok", {"daily_budget": "NaN"}, P.ProjectValidationError, "daily_budget"),
        ("ok", {"daily_budget": True}, P.ProjectValidationError, "daily_budget"),
        ("ok", {"budget_action": "nuke"}, P.ProjectValidationError, "budget_action"),
        ("ok", {"tags": [1, 2]}, P.ProjectValidationError, "tags"),
        ("ok", {"default_stack": "cheap"}, P.ProjectValidationError, "default_stack"),
        (
            "ok",
            {"default_stack": "premium", "stt_model": "deepgram/nova-3"},
            P.ProjectValidationError,
            "default_stack",
        ),
        ("ok", {"llm_model": "nosuch/model-9000"}, P.ModelNotFoundError, "llm_model"),
        ("ok", {"tts_model": "no-slash"}, P.ModelNotFoundError, None),
    ],
)
def test_create_validation(config, pid, kwargs, error, field) -> None:
    args = {"name": "A name", **kwargs}
    with Store.open(config) as store:
        with pytest.raises(error) as err:
            P.create_project(config, store.conn, pid, **args)
        assert store.conn.execute("SELECT count(*) FROM projects").fetchall()[0][0] == 0
        assert store.conn.execute("SELECT count(*) FROM audit_log").fetchall()[0][0] == 0
    if field:
        assert err.value.details.get("field") == field
    assert err.value.code in {
        "PROJECT_ALREADY_EXISTS",
        "VALIDATION_ERROR",
        "MODEL_NOT_FOUND",
    }


def test_explicit_models_must_be_priced(config) -> None:
    pricing = pytest.importorskip("voicegw_cli.pricing", reason="pricing room not installed")
    if not hasattr(pricing, "Pricer"):
        pytest.skip("pricing room not installed")
    with Store.open(config) as store:
        p = P.create_project(
            config,
            store.conn,
            "explicit",
            name="Explicit",
            stt_model="deepgram/nova-3",
            llm_model="openai/gpt-4o-mini",
            tts_model="cartesia/sonic-3",
        )
    assert (p.stt_model, p.llm_model, p.tts_model) == (
        "deepgram/nova-3",
        "openai/gpt-4o-mini",
        "cartesia/sonic-3",
    )


def test_update_switches_routing_and_audits_old_and_new(config) -> None:
    with Store.open(config) as store:
        P.create_project(config, store.conn, "bot", name="Bot", default_stack="premium")
        p = P.update_project(
            config, store.conn, "bot", {"daily_budget": "0.1", "tags": "a, b", "description": "d"}
        )
        assert p.daily_budget == Decimal("0.1") and p.tags == ["a", "b"]
        assert p.default_stack == "premium"
        p = P.update_project(config, store.conn, "bot", {"description": ""})
        assert p.description == ""
        with pytest.raises(P.ProjectValidationError, match="not both"):
            P.update_project(
                config, store.conn, "bot", {"default_stack": "premium", "llm_model": "a/b"}
            )
        with pytest.raises(P.ProjectValidationError, match="nothing to change"):
            P.update_project(config, store.conn, "bot", {})
        with pytest.raises(P.ProjectValidationError, match="cannot change"):
            P.update_project(config, store.conn, "bot", {"id": "other"})
        with pytest.raises(P.ProjectNotFoundError, match="did you mean bot"):
            P.update_project(config, store.conn, "bto", {"name": "x"})
        entries = P.audit_entries(store.conn, target="bot")
    update = entries[1]
    assert update["action"] == "project.update" and update["actor"].startswith("cli:")
    assert update["old_value"] == {"description": "", "daily_budget": "0", "tags": []}
    assert update["new_value"] == {"description": "d", "daily_budget": "0.1", "tags": ["a", "b"]}
    assert "daily_budget: 0 -> 0.1" in P.describe_change(update)
    assert [e["action"] for e in entries] == [
        "project.update",
        "project.update",
        "project.create",
    ]


def test_delete_preview_then_delete_keeps_line_items(config) -> None:
    with Store.open(config) as store:
        P.create_project(config, store.conn, "short-lived", name="Short")
        P.set_provider_key(config, store.conn, "short-lived", "openai", "sk-test-0123456789abc")
    _usage(config, "short-lived", "0.25", "1.50", "0.0001")
    with Store.open(config) as store:  # folds the spool
        preview = P.delete_preview(config, store.conn, "short-lived")
        assert preview.total_spend_usd == Decimal("1.7501")
        assert preview.total_items == 3 and preview.provider_keys == 1
        assert preview.last_activity == datetime(2026, 11, 10, 12, 2, tzinfo=UTC)
        assert "short-lived" in merged_projects(config, store.conn)  # preview changes nothing
        P.delete_project(config, store.conn, "short-lived")
        items = store.conn.execute(
            "SELECT count(*) FROM line_items WHERE project = 'short-lived'"
        ).fetchall()[0][0]
        keys = store.conn.execute("SELECT count(*) FROM provider_keys").fetchall()[0][0]
        assert "short-lived" not in merged_projects(config, store.conn)
        entry = P.audit_entries(store.conn, action="project.delete")[0]
        with pytest.raises(P.ProjectNotFoundError, match="3 line item"):
            P.get_project(config, store.conn, "short-lived")
    assert items == 3 and keys == 0
    assert entry["old_value"]["total_spend_usd"] == "1.7501" and entry["new_value"] is None


def test_yaml_projects_cannot_be_deleted(config) -> None:
    with Store.open(config) as store:
        with pytest.raises(P.ReadOnlyProjectError) as err:
            P.delete_preview(config, store.conn, "support")
    assert err.value.code == "READ_ONLY_RESOURCE" and "voicegw.yaml" in str(err.value)


# ------------------------------------------------------------------ CLI


def test_cli_create_update_and_list(config) -> None:
    res = cli(
        config,
        "projects",
        "create",
        "tonys-pizza",
        "--name",
        "Tony's Pizza",
        "--daily-budget",
        "5",
        "--budget-action",
        "block",
        "--tags",
        "prod,client",
        "--default-stack",
        "premium",
        "-f",
        "json",
    )
    assert res.exit_code == 0, res.output
    created = json.loads(res.stdout)
    assert created["source"] == "db" and created["daily_budget"] == "5"
    assert created["tags"] == ["prod", "client"]
    res = cli(config, "projects", "update", "tonys-pizza", "--monthly-budget", "100", "--tags", "")
    assert res.exit_code == 0, res.output
    assert "monthly_budget" in res.stdout
    listed = {r["id"]: r for r in json.loads(cli(config, "projects", "-f", "json").stdout)}
    assert listed["tonys-pizza"]["source"] == "db" and listed["tonys-pizza"]["tags"] == []
    assert listed["tonys-pizza"]["budget_action"] == "block"


@pytest.mark.parametrize(
    "args,code,text",
    [
        (["create", "support", "--name", "x"], 1, "already exists"),
        (["create", "new", "--name", "x", "--budget-action", "nuke"], 2, "budget_action"),
        (["create", "new", "--name", "x", "--daily-budget", "-3"], 2, ">= 0"),
        (
            ["create", "new", "--name", "x", "--default-stack", "premium", "--llm-model", "a/b"],
            2,
            "not both",
        ),
        (["create", "new", "--name", "x", "--default-stack", "premum"], 2, "did you mean premium"),
        (["create", "new", "--name", "x", "--stt-model", "nosuch/model"], 2, "pricing knows"),
        (["create", "new"], 2, "--name"),
        (["update", "suport", "--name", "x"], 1, "did you mean support"),
        (["update", "support", "--name", "x"], 2, "edit"),
        (["delete", "sales", "--yes"], 2, "voicegw.yaml"),
        (["delete", "nope", "--yes"], 1, "no project 'nope'"),
    ],
)
def test_cli_errors_and_exit_codes(config, args, code, text) -> None:
    res = cli(config, "projects", *args)
    assert res.exit_code == code, res.output
    assert text in res.output


def test_cli_delete_is_two_phase(config) -> None:
    assert cli(config, "projects", "create", "tmp-bot", "--name", "Tmp").exit_code == 0
    _usage(config, "tmp-bot", "0.5", "0.25")
    res = cli(config, "projects", "delete", "tmp-bot")  # stdin is not a terminal
    assert res.exit_code == 2 and "--yes" in res.output
    assert "$0.7500" in res.output and "2 line item(s)" in res.output
    assert "2026-11-10T12:01:00+00:00" in res.output
    with Store.open(config) as store:
        assert "tmp-bot" in merged_projects(config, store.conn)
    res = cli(config, "projects", "delete", "tmp-bot", "--yes", "-f", "json")
    assert res.exit_code == 0, res.output
    done = json.loads(res.stdout)
    assert done["action"] == "deleted" and done["total_spend_usd"] == "0.75"
    assert done["total_items"] == 2
    with Store.open(config) as store:
        assert "tmp-bot" not in merged_projects(config, store.conn)
        n = store.conn.execute("SELECT count(*) FROM line_items WHERE project='tmp-bot'")
        assert n.fetchall()[0][0] == 2


def test_cli_audit_shows_every_change(config) -> None:
    cli(config, "projects", "create", "a-bot", "--name", "A", "--tags", "dev")
    cli(config, "projects", "update", "a-bot", "--daily-budget", "2.5")
    cli(config, "projects", "set-key", "a-bot", "openai", input="sk-audit-SECRET-123456789")
    cli(config, "projects", "create", "b-bot", "--name", "B")
    cli(config, "projects", "delete", "b-bot", "--yes")
    res = cli(config, "audit", "-f", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["action"], r["target"]) for r in rows] == [
        ("project.delete", "b-bot"),
        ("project.create", "b-bot"),
        ("provider_key.set", "a-bot/openai"),
        ("project.update", "a-bot"),
        ("project.create", "a-bot"),
    ]
    assert rows[3]["old_value"] == {"daily_budget": "0"}
    assert rows[3]["new_value"] == {"daily_budget": "2.5"}
    assert "sk-audit-SECRET" not in res.stdout and "123456789" not in res.stdout
    only = json.loads(cli(config, "audit", "--project", "a-bot", "-f", "json").stdout)
    assert {r["target"] for r in only} == {"a-bot", "a-bot/openai"}
    creates = json.loads(cli(config, "audit", "--action", "project.create", "-f", "json").stdout)
    assert len(creates) == 2
    table = runner.invoke(app, ["--config", str(config.path), "audit"], env={"COLUMNS": "250"})
    assert "daily_budget: 0 -> 2.5" in table.stdout and "tags=[dev]" in table.stdout
    csv_out = cli(config, "audit", "-n", "1", "-f", "csv").stdout.splitlines()
    assert csv_out[0] == "id,ts,action,target,actor,old_value,new_value" and len(csv_out) == 2


def test_set_key_refuses_an_unknown_provider(config) -> None:
    assert cli(config, "projects", "create", "bot", "--name", "Bot").exit_code == 0
    res = runner.invoke(
        app, ["--config", str(config.path), "projects", "set-key", "bot", "opnai"], input="sk-1\n"
    )
    assert res.exit_code == 2 and "did you mean openai" in res.stderr
    with Store.open(config) as store:
        assert store.conn.execute("SELECT count(*) FROM provider_keys").fetchall()[0][0] == 0


def test_update_one_model_keeps_the_rest_of_the_stack(config) -> None:
    args = ["projects", "create", "bot", "--name", "Bot", "--default-stack", "premium"]
    assert cli(config, *args).exit_code == 0
    res = cli(config, "projects", "update", "bot", "--stt-model", "deepgram/nova-2", "--dry-run")
    assert res.exit_code == 0 and "Would change" in res.stdout and "dry run" in res.stderr
    assert json.loads(cli(config, "project", "bot", "-f", "json").stdout)["default_stack"] == (
        "premium"
    )
    res = cli(config, "projects", "update", "bot", "--stt-model", "deepgram/nova-2", "-f", "json")
    body = json.loads(res.stdout)
    assert body["applied"] is True
    assert {r["field"] for r in body["rows"]} == {
        "default_stack",
        "stt_model",
        "llm_model",
        "tts_model",
    }
    d = json.loads(cli(config, "project", "bot", "-f", "json").stdout)
    assert (d["stt_model"], d["llm_model"], d["tts_model"]) == (
        "deepgram/nova-2",
        "openai/gpt-4o-mini",
        "cartesia/sonic-3",
    )
    res = cli(config, "projects", "update", "bot", "--stt-model", "deepgram/nova-2")
    assert res.exit_code == 0 and "nothing to change" in res.stderr
