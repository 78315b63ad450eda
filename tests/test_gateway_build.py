"""Plugins built from voicegw.yaml: every listed provider's real LiveKit plugin objects,
built with dummy keys and the network switched off, and the key each one received from
each resolution layer (project key stored with set-key, project YAML, top-level YAML,
runtime provider key, environment). Plus the one-line build errors and fallback chains.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import pytest

from voicegw_cli import projects as P
from voicegw_cli.errors import ConfigError
from voicegw_cli.gateway import Gateway, RuntimeState, built_info
from voicegw_cli.gateway.build import ConstructError
from voicegw_cli.gateway.errors import BuildError, KeyMissingError
from voicegw_cli.gateway.kinds import KINDS, PluginMissingError
from voicegw_cli.gateway.manage import add_provider
from voicegw_cli.store import Store

#: (modality, model string, plugin class, model the plugin reports, voice or None)
CASES = [
    ("llm", "openai/gpt-4o-mini", "livekit.plugins.openai.llm.LLM", "gpt-4o-mini", None),
    ("stt", "openai/whisper-1", "livekit.plugins.openai.stt.STT", "whisper-1", None),
    ("tts", "openai/tts-1:alloy", "livekit.plugins.openai.tts.TTS", "tts-1", "alloy"),
    (
        "llm",
        "anthropic/claude-haiku-4-5",
        "livekit.plugins.anthropic.llm.LLM",
        "claude-haiku-4-5",
        None,
    ),
    (
        "llm",
        "groq/llama-3.3-70b-versatile",
        "livekit.plugins.openai.llm.LLM",
        "llama-3.3-70b-versatile",
        None,
    ),
    ("stt", "groq/whisper-large-v3", "livekit.plugins.openai.stt.STT", "whisper-large-v3", None),
    ("stt", "deepgram/nova-3", "livekit.plugins.deepgram.stt.STT", "nova-3", None),
    ("tts", "deepgram/aura-2", "livekit.plugins.deepgram.tts.TTS", "aura-2-thalia-en", None),
    (
        "tts",
        "deepgram/aura-2:orion-en",
        "livekit.plugins.deepgram.tts.TTS",
        "aura-2-orion-en",
        None,
    ),
    ("tts", "cartesia/sonic-3:voice-42", "livekit.plugins.cartesia.tts.TTS", "sonic-3", "voice-42"),
    (
        "tts",
        "elevenlabs/eleven_turbo_v2_5:voice-7",
        "livekit.plugins.elevenlabs.tts.TTS",
        "eleven_turbo_v2_5",
        "voice-7",
    ),
    (
        "stt",
        "assemblyai/universal-streaming",
        "livekit.plugins.assemblyai.stt.STT",
        "universal-streaming",
        None,
    ),
    (
        "llm",
        "livekit/openai/gpt-4.1-mini",
        "livekit.agents.inference.llm.LLM",
        "openai/gpt-4.1-mini",
        None,
    ),
    (
        "stt",
        "livekit/deepgram/nova-3",
        "livekit.agents.inference.stt.STT",
        "deepgram/nova-3",
        None,
    ),
    (
        "tts",
        "livekit/cartesia/sonic-3:voice-9",
        "livekit.agents.inference.tts.TTS",
        "cartesia/sonic-3",
        "voice-9",
    ),
]
PROVIDERS = sorted({c[1].split("/")[0] for c in CASES})
ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepgram": "DEEPGRAM_API_KEY",
    "cartesia": "CARTESIA_API_KEY",
    "elevenlabs": "ELEVEN_API_KEY",
    "assemblyai": "ASSEMBLYAI_API_KEY",
    "livekit": "LIVEKIT_API_KEY",
}
LK_SECRET = "env-livekit-secret-0123456789abcdef"  # >= 32 bytes: JWT signing wants that
TENANT_SECRET = "tenant-livekit-secret-0123456789abcdef"
ALL_ENV = {e for k in KINDS.values() for e in (*k.env_keys, *k.env_secrets)}


def received(obj: Any, attr: str = "api_key") -> str | None:
    """The key a real plugin object holds, wherever that plugin keeps it."""
    opts = getattr(obj, "_opts", None)
    if hasattr(opts, attr):  # Deepgram/Cartesia/ElevenLabs TTS, LiveKit Inference
        return getattr(opts, attr)
    if hasattr(obj, f"_{attr}"):  # Deepgram/AssemblyAI STT
        return getattr(obj, f"_{attr}")
    return obj._client.api_key  # OpenAI-compatible and Anthropic clients


def voice_of(obj: Any) -> str | None:
    opts = obj._opts
    for attr in ("voice", "voice_id"):
        if hasattr(opts, attr):
            value = getattr(opts, attr)
            return value if isinstance(value, str) else getattr(value, "id", None)
    return None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ALL_ENV | {"LIVEKIT_URL"}:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Building must not touch the network: any connect fails the test."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"network access while building: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def _env_all(monkeypatch: pytest.MonkeyPatch, prefix: str = "env") -> None:
    for provider, var in ENV.items():
        monkeypatch.setenv(var, f"{prefix}-{provider}-key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", LK_SECRET)


def _yaml(providers: dict[str, str] | None = None, project: dict[str, str] | None = None) -> str:
    lines = ["timezone: UTC", "projects:", "  support:", "    name: Support"]
    if project:
        lines.append("    providers:")
        lines += [f"      {p}: {{api_key: {k}}}" for p, k in project.items()]
    if providers:
        lines.append("providers:")
        lines += [f"  {p}: {{api_key: {k}}}" for p, k in providers.items()]
    return "\n".join(lines) + "\n"


def _build_all(gw: Gateway, project: str) -> dict[str, tuple[Any, str]]:
    return {text: (gw.build(mod, text, project), cls) for mod, text, cls, _, _ in CASES}


# ------------------------------------------------------------------ the layers


def test_every_provider_builds_its_real_plugin_from_env(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    gw = Gateway(write_config(_yaml()))
    for modality, text, cls, model, voice in CASES:
        obj = gw.build(modality, text, "support")
        assert f"{type(obj).__module__}.{type(obj).__qualname__}" == cls, text
        assert obj.model == model, text
        provider = text.split("/")[0]
        assert received(obj) == f"env-{provider}-key", text
        if voice is not None:
            assert voice_of(obj) == voice, text
        info = built_info(obj)
        assert info is not None and info.project == "support" and info.key_source == "env"
        assert info.modality == modality and info.provider == provider
    lk = gw.build("llm", "livekit/openai/gpt-4.1-mini", "support")
    assert received(lk, "api_secret") == LK_SECRET


def test_top_level_yaml_beats_env(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    gw = Gateway(write_config(_yaml(providers={p: f"yaml-{p}" for p in PROVIDERS})))
    for text, (obj, _) in _build_all(gw, "support").items():
        assert received(obj) == f"yaml-{text.split('/')[0]}", text
        assert built_info(obj).key_source == "provider_yaml"


def test_project_yaml_beats_top_level(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    cfg = write_config(
        _yaml(
            providers={p: f"yaml-{p}" for p in PROVIDERS},
            project={p: f"support-{p}" for p in PROVIDERS},
        )
    )
    gw = Gateway(cfg)
    for text, (obj, _) in _build_all(gw, "support").items():
        assert received(obj) == f"support-{text.split('/')[0]}", text
        assert built_info(obj).key_source == "project_yaml"
    # Another project does not see support's keys: it gets the top-level ones.
    other = gw.build("llm", "openai/gpt-4o-mini", "default")
    assert received(other) == "yaml-openai"


def test_stored_project_key_beats_everything_and_reaches_agents_via_snapshot(
    write_config, monkeypatch
) -> None:
    """set-key keys (Fernet in the store) are what an agent process gets, read from the
    snapshot beside the store (agents never open DuckDB), decrypted only in memory."""
    _env_all(monkeypatch)
    cfg = write_config(_yaml(providers={p: f"yaml-{p}" for p in PROVIDERS}))
    with Store.open(cfg) as store:
        P.create_project(cfg, store.conn, "tenant", name="Tenant")
        for p in PROVIDERS:
            value = f"tenant-{p}-key" + (":" + TENANT_SECRET if p == "livekit" else "")
            P.set_provider_key(cfg, store.conn, "tenant", p, value)
        conn_state = RuntimeState.from_conn(store.conn, cfg)
    from voicegw_cli.store.gateway_snapshot import gateway_snapshot_path

    snap = gateway_snapshot_path(cfg)
    text = snap.read_text()
    assert "tenant-openai-key" not in text  # ciphertext only
    assert oct(snap.stat().st_mode & 0o777) == "0o600"
    for gw in (Gateway(cfg), Gateway(cfg, conn_state)):
        built = _build_all(gw, "tenant")
        for text, (obj, _) in built.items():
            assert received(obj) == f"tenant-{text.split('/')[0]}-key", text
            assert built_info(obj).key_source == "project_store"
        lk = built["livekit/openai/gpt-4.1-mini"][0]
        assert received(lk, "api_secret") == TENANT_SECRET
    # support (a YAML project) still gets the top-level YAML key
    assert received(Gateway(cfg).build("stt", "deepgram/nova-3", "support")) == "yaml-deepgram"


def test_runtime_provider_key_sits_between_yaml_and_env(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    cfg = write_config(_yaml())
    with Store.open(cfg) as store:
        add_provider(cfg, store.conn, "deepgram", api_key="store-deepgram-key")
    gw = Gateway(cfg)
    obj = gw.build("stt", "deepgram/nova-3", "support")
    assert received(obj) == "store-deepgram-key"
    assert built_info(obj).key_source == "provider_store"
    # YAML written later wins over the runtime key
    cfg2 = write_config(_yaml(providers={"deepgram": "yaml-deepgram"}))
    assert received(Gateway(cfg2).build("stt", "deepgram/nova-3", "support")) == "yaml-deepgram"


def test_explicit_kwargs_pass_through(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    gw = Gateway(write_config(_yaml()))
    llm = gw.build("llm", "openai/gpt-4o-mini", "support", temperature=0.2, api_key="explicit")
    assert llm._opts.temperature == 0.2 and received(llm) == "explicit"
    assert built_info(llm).key_source == "explicit"
    stt = gw.build("stt", "deepgram/nova-3", "support", language="de", interim_results=False)
    assert stt._opts.language == "de" and stt._opts.interim_results is False


def test_custom_openai_compatible_provider_and_ollama(write_config, monkeypatch) -> None:
    cfg = write_config(
        _yaml()
        + "providers:\n"
        + "  together: {type: openai, base_url: 'https://api.together.xyz/v1', "
        + "api_key: tg-key}\n"
    )
    monkeypatch.setenv("TOGETHER_API_KEY", "env-ignored")
    gw = Gateway(cfg)
    llm = gw.build("llm", "together/meta-llama/Llama-3.3-70B-Instruct-Turbo", "support")
    assert received(llm) == "tg-key" and llm.provider == "api.together.xyz"
    assert llm.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert built_info(llm).billing_provider == "together"
    local = gw.build("llm", "ollama/qwen2.5:3b", "support")  # colons stay in LLM names
    assert local.model == "qwen2.5:3b" and built_info(local).key_source == "not_needed"


# ------------------------------------------------------------------ errors


def _one_line(exc: BaseException, cfg, key: str) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith(f"{cfg.path}: {key}: "), text
    return text


STACKS_YAML = """\
timezone: UTC
projects:
  support: {name: Support, default_stack: premium}
  bare: {name: Bare}
  typo: {name: Typo, llm_model: gpt-4o-mini}
stacks:
  premium: {stt: deepgram/nova-3, llm: openai/gpt-4o-mini, tts: cartesia/sonic-3}
  broken: {stt: deepgarm/nova-3, llm: openai/gpt-4o-mini}
  bare-model: {llm: gpt-4o-mini}
"""


def test_bad_input_is_one_line_naming_file_and_key(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    cfg = write_config(STACKS_YAML)
    gw = Gateway(cfg)
    cases = [
        (lambda: gw.stack("gold"), "stacks", "no stack 'gold' in stacks: (known: "),
        (lambda: gw.stack("broken"), "stacks.broken.stt", "unknown provider 'deepgarm'"),
        (lambda: gw.stack("bare-model"), "stacks.bare-model.llm", "has no provider"),
        (lambda: gw.stack(project="bare"), "projects.bare", "neither default_stack"),
        (lambda: gw.stack(project="typo"), "projects.typo.llm_model", "has no provider"),
        (lambda: gw.stack(project="ghost"), "projects.ghost", "no such project"),
        (lambda: gw.build("llm", "gorq/llama-3"), "providers", "did you mean groq?"),
        (lambda: gw.build("llm", "gpt-4o-mini"), "llm()", "has no provider"),
        (lambda: gw.build("tts", "anthropic/claude-haiku-4-5"), "tts()", "has no TTS"),
        (lambda: gw.with_fallback("stt"), "fallbacks.stt", "no stt fallback chain"),
    ]
    for call, key, text in cases:
        with pytest.raises(BuildError) as err:
            call()
        assert text in _one_line(err.value, cfg, key), key
        assert err.value.exit_code == 3


def test_a_good_stack_builds_all_three(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    gw = Gateway(write_config(STACKS_YAML))
    stt, llm, tts = gw.stack(project="support")  # its default_stack
    assert (stt.model, llm.model, tts.model) == ("nova-3", "gpt-4o-mini", "sonic-3")
    assert {built_info(o).project for o in (stt, llm, tts)} == {"support"}
    stt2, llm2, tts2 = gw.stack("premium", project="bare")
    assert built_info(llm2).project == "bare"


def test_configured_but_unset_key_stops_the_walk(write_config, monkeypatch) -> None:
    """A project key written as ${VAR} with VAR unset must not fall back to a broader key
    (that would bill another account)."""
    monkeypatch.setenv("OPENAI_API_KEY", "env-openai")
    cfg = write_config(
        "projects:\n  support:\n    name: S\n    providers:\n"
        "      openai: {api_key: '${SUPPORT_OPENAI_KEY}'}\n"
    )
    with pytest.raises(KeyMissingError) as err:
        Gateway(cfg).build("llm", "openai/gpt-4o-mini", "support")
    _one_line(err.value, cfg, "projects.support.providers.openai.api_key")
    assert "unset" in str(err.value)


def test_missing_key_names_every_place_a_key_can_go(write_config) -> None:
    cfg = write_config(_yaml())
    with pytest.raises(KeyMissingError) as err:
        Gateway(cfg).build("stt", "deepgram/nova-3", "support")
    text = _one_line(err.value, cfg, "providers.deepgram.api_key")
    assert "projects.support.providers.deepgram.api_key" in text and "$DEEPGRAM_API_KEY" in text


def test_missing_plugin_names_the_pip_package(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    monkeypatch.setitem(sys.modules, "livekit.plugins.anthropic", None)  # not importable
    with pytest.raises(PluginMissingError) as err:
        Gateway(write_config(_yaml())).build("llm", "anthropic/claude-haiku-4-5", "support")
    assert str(err.value) == (
        "anthropic/claude-haiku-4-5: the Anthropic plugin is not installed: "
        "pip install livekit-plugins-anthropic"
    )


def test_constructor_refusal_is_one_line(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    cfg = write_config(_yaml())
    with pytest.raises(ConstructError) as err:
        Gateway(cfg).build("llm", "openai/gpt-4o-mini", "support", no_such_option=1)
    text = _one_line(err.value, cfg, "llm()")
    assert "could not be built" in text and "no_such_option" in text
    assert "env-openai-key" not in text


# ------------------------------------------------------------------ fallback chains

CHAIN_YAML = """\
timezone: UTC
projects:
  support:
    name: Support
    fallbacks:
      tts: [elevenlabs/eleven_turbo_v2_5, cartesia/sonic-3, deepgram/aura-2]
  other: {name: Other}
fallbacks:
  llm: [anthropic/claude-haiku-4-5, groq/llama-3.1-8b-instant, openai/gpt-4o-mini]
  stt: [assemblyai/universal-streaming, deepgram/nova-3]
"""


def test_chain_returns_first_that_builds_and_logs_why(write_config, monkeypatch, caplog) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "groq-secret-value")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-secret-value")
    monkeypatch.setenv("CARTESIA_API_KEY", "cartesia-secret-value")
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-secret-value")
    monkeypatch.setitem(sys.modules, "livekit.plugins.elevenlabs", None)
    gw = Gateway(write_config(CHAIN_YAML))
    with caplog.at_level(logging.WARNING, logger="voicegw.gateway"):
        llm = gw.with_fallback("llm", project="support")
        tts = gw.with_fallback("tts", project="support")  # the project's own chain
        tts_other = gw.with_fallback("stt", project="other")  # the top-level chain
    assert llm.model == "llama-3.1-8b-instant" and built_info(llm).provider == "groq"
    assert tts.model == "sonic-3" and tts_other.model == "nova-3"
    text = caplog.text
    assert "fallbacks.llm[0]: skipping anthropic/claude-haiku-4-5: no Anthropic API key" in text
    assert "projects.support.fallbacks.tts[0]: skipping elevenlabs/eleven_turbo_v2_5" in text
    assert "pip install livekit-plugins-elevenlabs" in text
    assert "secret-value" not in text  # never a key in the log


def test_runtime_chain_is_livekits_fallback_adapter(write_config, monkeypatch) -> None:
    from livekit.agents import llm as lk_llm
    from livekit.agents import tts as lk_tts

    monkeypatch.setenv("GROQ_API_KEY", "g")
    monkeypatch.setenv("OPENAI_API_KEY", "o")
    monkeypatch.setenv("CARTESIA_API_KEY", "c")
    monkeypatch.setenv("DEEPGRAM_API_KEY", "d")
    gw = Gateway(write_config(CHAIN_YAML))
    adapter = gw.with_fallback("llm", project="support", runtime=True, max_retry_per_llm=0)
    assert isinstance(adapter, lk_llm.FallbackAdapter)
    assert [c.model for c in adapter._llm_instances] == ["llama-3.1-8b-instant", "gpt-4o-mini"]
    assert adapter._max_retry_per_llm == 0
    assert built_info(adapter).project == "support"
    tts = gw.with_fallback("tts", project="support", runtime=True)
    assert isinstance(tts, lk_tts.FallbackAdapter)
    assert [t.model for t in tts._tts_instances] == ["sonic-3", "aura-2-thalia-en"]


def test_chain_where_nothing_resolves(write_config, caplog) -> None:
    cfg = write_config(CHAIN_YAML)
    with pytest.raises(BuildError) as err:
        Gateway(cfg).with_fallback("llm", project="other")
    text = _one_line(err.value, cfg, "fallbacks.llm")
    assert text.count("; ") >= 2 and "nothing in the chain resolved" in text
    for model in ("anthropic/claude-haiku-4-5", "groq/llama-3.1-8b-instant", "openai/gpt-4o-mini"):
        assert model in text


def test_bad_entry_in_a_chain_is_an_error_not_a_skip(write_config, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "o")
    cfg = write_config("fallbacks:\n  llm: [gorq/llama-3, openai/gpt-4o-mini]\n")
    with pytest.raises(BuildError) as err:
        Gateway(cfg).with_fallback("llm")
    _one_line(err.value, cfg, "fallbacks.llm[0]")


def test_config_validates_new_keys_at_load(write_config) -> None:
    for text, key in [
        ("fallbacks:\n  llm: [gpt-4o-mini]\n", "fallbacks.llm[0]"),
        ("fallbacks:\n  vision: [openai/gpt-4o]\n", "fallbacks.vision"),
        ("models:\n  gpt-x: {modality: llm}\n", "models.gpt-x"),
        ("models:\n  openai/gpt-x: {modality: video}\n", "models.openai/gpt-x.modality"),
        ("providers:\n  openai: {apikey: x}\n", "providers.openai.apikey"),
        (
            "projects:\n  p: {name: P, providers: {openai: {type: openai}}}\n",
            "projects.p.providers.openai.type",
        ),
        (
            "models:\n  openai/gpt-x: {modality: llm, price: {input_per_mtok: '1'}}\n",
            "models.openai/gpt-x.price.output_per_mtok",
        ),
    ]:
        with pytest.raises(ConfigError) as err:
            write_config(text)
        assert err.value.key_path == key, (text, str(err.value))


def test_model_prices_join_pricing_overrides(write_config) -> None:
    from datetime import UTC, datetime

    from voicegw_cli.items import LineItem
    from voicegw_cli.pricing import Pricer

    cfg = write_config(
        "models:\n"
        "  together/meta-llama/Llama-3.3-70B:\n"
        "    modality: llm\n"
        "    price: {input_per_mtok: '0.88', output_per_mtok: '0.88'}\n"
        "  cartesia/sonic-3:\n"
        "    modality: tts\n"
        "    default_voice: voice-from-yaml\n"
        "    price: {per_1m_characters: '30'}\n"
    )
    assert set(cfg.pricing_overrides) == {"together/meta-llama/Llama-3.3-70B", "cartesia/sonic-3"}
    item = LineItem(
        timestamp=datetime(2026, 11, 10, tzinfo=UTC),
        project="p",
        modality="tts",
        provider="cartesia",
        model="sonic-3",
        characters=1_000_000,
    )
    Pricer(cfg.pricing_overrides).price_item(item)
    assert (str(item.cost_usd), item.pricing_source) == ("30.0000000000", "override")
    with pytest.raises(ConfigError) as err:
        write_config(
            "models:\n  cartesia/sonic-3: {modality: tts, price: {per_1m_characters: '30'}}\n"
            "pricing:\n  overrides:\n    Cartesia/sonic-3: {per_1m_characters: '31'}\n"
        )
    assert err.value.key_path == "models.cartesia/sonic-3.price"


def test_default_voice_from_models(write_config, monkeypatch) -> None:
    monkeypatch.setenv("CARTESIA_API_KEY", "c")
    cfg = write_config("models:\n  cartesia/sonic-3: {modality: tts, default_voice: v-yaml}\n")
    gw = Gateway(cfg)
    assert voice_of(gw.build("tts", "cartesia/sonic-3")) == "v-yaml"
    assert voice_of(gw.build("tts", "cartesia/sonic-3:v-call")) == "v-call"


def test_runtime_project_routing_comes_from_the_store(write_config, monkeypatch) -> None:
    _env_all(monkeypatch)
    cfg = write_config(STACKS_YAML)
    with Store.open(cfg) as store:
        P.create_project(cfg, store.conn, "shop", name="Shop", default_stack="premium")
        P.create_project(cfg, store.conn, "lab", name="Lab", llm_model="openai/gpt-4o-mini")
    gw = Gateway(cfg)  # agent side: snapshot only
    stt, llm, tts = gw.stack(project="shop")
    assert (stt.model, llm.model, tts.model) == ("nova-3", "gpt-4o-mini", "sonic-3")
    assert gw.stack(project="lab")[0] is None and gw.stack(project="lab")[1].model == "gpt-4o-mini"


def test_warm_imports_the_plugins_config_names(write_config) -> None:
    gw = Gateway(write_config(STACKS_YAML + "fallbacks:\n  llm: [anthropic/claude-haiku-4-5]\n"))
    modules = gw.warm()
    assert {
        "livekit.plugins.deepgram",
        "livekit.plugins.openai",
        "livekit.plugins.cartesia",
    } <= set(modules)
    assert "livekit.plugins.anthropic" in modules


def test_stored_keys_survive_secret_rotation(write_config) -> None:
    """Runtime provider keys live beside project keys, so rotation re-encrypts both and
    the snapshot agents read follows."""
    from voicegw_cli import secrets as S

    cfg = write_config(_yaml())
    with Store.open(cfg) as store:
        P.create_project(cfg, store.conn, "tenant", name="Tenant")
        P.set_provider_key(cfg, store.conn, "tenant", "openai", "tenant-openai-key")
        add_provider(cfg, store.conn, "deepgram", api_key="store-deepgram-key")
    from voicegw_cli.store.gateway_snapshot import gateway_snapshot_path

    before = gateway_snapshot_path(cfg).read_text()
    with Store.open(cfg) as store:
        assert S.rotate(store.conn, cfg).keys == 2
    assert gateway_snapshot_path(cfg).read_text() != before
    gw = Gateway(cfg)
    assert received(gw.build("llm", "openai/gpt-4o-mini", "tenant")) == "tenant-openai-key"
    assert received(gw.build("stt", "deepgram/nova-3", "tenant")) == "store-deepgram-key"


def _http_settings(plugin_obj: Any) -> tuple[Any, ...]:
    client = plugin_obj._client
    http = client._client
    pool = http._transport._pool
    return (
        str(client.base_url),
        client.max_retries,
        http.timeout,
        http.follow_redirects,
        pool._max_connections,
        pool._max_keepalive_connections,
        pool._keepalive_expiry,
    )


def test_clients_we_build_match_the_plugins_own(write_config, monkeypatch) -> None:
    """The OpenAI-family and Anthropic objects get a client on one shared TLS context (the
    CA bundle loaded once, not per object); everything else about the client is what the
    plugin itself would have built."""
    from livekit.plugins import anthropic, openai

    from voicegw_cli.gateway.kinds import shared_tls_context

    _env_all(monkeypatch)
    gw = Gateway(write_config(_yaml()))
    pairs = [
        (gw.build("llm", "openai/gpt-4o-mini"), openai.LLM(model="gpt-4o-mini", api_key="x")),
        (gw.build("stt", "openai/whisper-1"), openai.STT(model="whisper-1", api_key="x")),
        (gw.build("tts", "openai/tts-1"), openai.TTS(model="tts-1", api_key="x")),
        (
            gw.build("llm", "groq/llama-3.1-8b-instant"),
            openai.LLM(model="m", api_key="x", base_url="https://api.groq.com/openai/v1"),
        ),
        (
            gw.build("llm", "anthropic/claude-haiku-4-5"),
            anthropic.LLM(model="claude-haiku-4-5", api_key="x"),
        ),
    ]
    for ours, theirs in pairs:
        assert _http_settings(ours) == _http_settings(theirs), type(theirs)
        assert ours._client._client._transport._pool._ssl_context is shared_tls_context()
        assert getattr(ours, "_owns_client", True) is True
    # an option that configures the client itself: the plugin builds its own
    own = gw.build("llm", "openai/gpt-4o-mini", timeout=None, max_retries=3)
    assert own._client.max_retries == 3
    assert own._client._client._transport._pool._ssl_context is not shared_tls_context()


def test_warm_logs_a_bad_provider_instead_of_failing_the_worker(write_config, caplog) -> None:
    cfg = write_config("providers:\n  lab: {base_url: 'http://x/v1'}\n")  # no type
    with caplog.at_level(logging.WARNING, logger="voicegw.gateway"):
        assert Gateway(cfg).warm() == []
    assert "providers.lab: unknown provider 'lab'" in caplog.text
    with pytest.raises(BuildError) as err:
        Gateway(cfg).build("llm", "lab/llama-3")
    _one_line(err.value, cfg, "providers.lab")
