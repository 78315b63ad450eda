"""Parts for the fleet tests: a real S3 API on loopback (moto's standalone server) that
can be stopped and started again on its port, host configs, and child-process roles
(writer: a real Recorder with its shipper thread; sidecar: `Shipper.ship_once` in a loop).

Children run this file as a script: `python fleet_helpers.py writer|sidecar ...`.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "fleet"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class S3Server:
    """moto's ThreadedMotoServer on 127.0.0.1 in a process of its own, reached through a
    small TCP proxy process: `stop()` kills the proxy (the endpoint's port is closed:
    the bucket is unreachable, its contents intact), `start()` opens it again."""

    def __init__(self) -> None:
        import subprocess

        self.moto_port = _free_port()
        self.port = _free_port()
        self._moto = subprocess.Popen(
            [sys.executable, __file__, "moto", str(self.moto_port)],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.moto_port)
        self._proxy: Any = None
        self.start()
        import boto3

        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            region_name="us-east-1",
            **_creds(),
        ).create_bucket(Bucket=BUCKET)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import subprocess

        if self._proxy is not None:
            return
        self._proxy = subprocess.Popen(
            [sys.executable, __file__, "proxy", str(self.port), str(self.moto_port)],
            env=child_env(),
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.kill()
            self._proxy.wait()
            self._proxy = None

    def close(self) -> None:
        self.stop()
        self._moto.kill()
        self._moto.wait()


def _creds() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }


HOST_YAML = """\
timezone: {tz}
projects:
  support: {{name: Support, daily_budget: 1000}}
  sales: {{name: Sales, daily_budget: 1, budget_action: block}}
hook:
  flush_interval_seconds: {flush}
budgets:
  refresh_seconds: {refresh}
storage:
  store: {store}
  spool: {spool}
  host: {host}
  ship_to: {ship_to}
  segment_max_seconds: {segment_seconds}
  segment_max_bytes: {segment_bytes}
  ship_grace_seconds: {grace}
{extra}"""


def host_yaml(
    tmp: Path,
    host: str,
    ship_to: str,
    *,
    endpoint: str | None = None,
    tz: str = "UTC",
    flush: float = 0.05,
    refresh: float = 0.2,
    segment_seconds: float = 0.3,
    segment_bytes: int = 4096,
    grace: float = 120,
    extra: str = "",
) -> Path:
    """Write `<tmp>/<host>.yaml`: the host's own spool, one shared ship_to; the store path
    is only used by the central config (host `central`)."""
    if endpoint:
        extra = f"  endpoint_url: {endpoint}\n" + extra
    path = tmp / f"{host}.yaml"
    path.write_text(
        HOST_YAML.format(
            tz=tz,
            flush=flush,
            refresh=refresh,
            store=tmp / "central" / "usage.duckdb",
            spool=tmp / host / "spool",
            host=host,
            ship_to=ship_to,
            segment_seconds=segment_seconds,
            segment_bytes=segment_bytes,
            grace=grace,
            extra=extra,
        )
    )
    return path


def cost_of(seq: int) -> str:
    """A distinct, exact cost per item."""
    return f"0.00{seq % 7 + 1}"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **AWS_ENV, "PYTHONPATH": str(ROOT)}
    env.update(extra or {})
    return env


# ------------------------------------------------------------------ child roles


def writer(config_path: str, tag: str, batches: int, per: int, log_path: str, stop: str) -> None:
    """Submit `batches` batches of priced items through a real Recorder (its flusher and
    shipper threads), flushing each and logging the last sequence number written; stops
    early when the `stop` file appears. Exits normally: the atexit hook flushes, closes
    the spool file and ships it."""
    from decimal import Decimal

    from voicegw_cli import clock
    from voicegw_cli.config import load_config
    from voicegw_cli.hook.recorder import Recorder
    from voicegw_cli.items import LineItem

    cfg = load_config(config_path)
    rec = Recorder(
        cfg.spool_dir,
        flush_interval=cfg.hook.flush_interval_seconds,
        pricer_factory=lambda _o: None,
        ship_config=cfg,
    )
    rec.start()
    project = "sales" if tag.endswith("1") else "support"

    def convert(seqs: list[int]) -> list[LineItem]:
        now = clock.now()
        return [
            LineItem(
                timestamp=now,
                project=project,
                modality="llm",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=seq,
                output_tokens=1,
                cost_usd=Decimal(cost_of(seq)),
                pricing_source="test",
                id=f"{tag}-{seq}",
            )
            for seq in seqs
        ]

    with open(log_path, "a", buffering=1) as log:
        seq = 0
        for _ in range(batches):
            if os.path.exists(stop):
                break
            seqs = list(range(seq, seq + per))
            log.write(f"B {seqs[-1]}\n")  # about to be written: may be lost if killed now
            rec.submit(convert, seqs)
            rec.flush()
            seq += per
            log.write(f"C {seq - 1}\n")  # durably in the spool
            time.sleep(0.1)
    rec.stop()


def burst(config_path: str, cost: str, go: str, log_path: str, stop: str) -> None:
    """An agent process that, once `go` exists, records one call's worth of `sales`
    spend (`cost` in all) through a real Recorder, logs when it is in the spool, then
    lives on (its shipper thread ships it) until `stop` appears."""
    from decimal import Decimal

    from voicegw_cli import clock
    from voicegw_cli.config import load_config
    from voicegw_cli.hook.recorder import Recorder
    from voicegw_cli.items import LineItem

    cfg = load_config(config_path)
    rec = Recorder(
        cfg.spool_dir,
        flush_interval=cfg.hook.flush_interval_seconds,
        pricer_factory=lambda _o: None,
        ship_config=cfg,
    )
    rec.start()
    while not os.path.exists(go):
        time.sleep(0.01)
    item = LineItem(
        timestamp=clock.now(),
        project="sales",
        modality="llm",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=1,
        cost_usd=Decimal(cost),
        pricing_source="test",
    )
    rec.submit(lambda it: [it], item)
    rec.flush()
    with open(log_path, "w") as log:
        log.write(f"{clock.time()}\n")
    while not os.path.exists(stop):
        time.sleep(0.05)
    rec.stop()


def exit_without_stop(config_path: str) -> None:
    """Record five items and let the interpreter exit: the atexit hooks flush, close the
    file and ship it (before pyarrow shuts its S3 client down)."""
    from decimal import Decimal

    from voicegw_cli import clock
    from voicegw_cli.config import load_config
    from voicegw_cli.hook.recorder import Recorder
    from voicegw_cli.items import LineItem

    cfg = load_config(config_path)
    rec = Recorder(
        cfg.spool_dir, flush_interval=60, pricer_factory=lambda _o: None, ship_config=cfg
    )
    rec.start()
    rec.submit(
        lambda n: [
            LineItem(
                timestamp=clock.now(),
                project="support",
                modality="llm",
                provider="openai",
                model="gpt-4o-mini",
                cost_usd=Decimal("0.01"),
                pricing_source="test",
            )
            for _ in range(n)
        ],
        5,
    )


def sidecar(config_path: str) -> None:
    """`voicegw ship` in a loop, as a sidecar container would run it."""
    from voicegw_cli.config import load_config
    from voicegw_cli.fleet.ship import Shipper

    cfg = load_config(config_path)
    shipper = Shipper(cfg)
    while True:
        shipper.ship_once()
        time.sleep(0.2)


def moto(port: int) -> None:
    from moto.server import ThreadedMotoServer

    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    while True:
        time.sleep(3600)


def proxy(listen: int, to: int) -> None:
    """Forward TCP connections from `listen` to `to` (both on 127.0.0.1)."""
    import asyncio

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", to)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen, reuse_address=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    role = sys.argv[1]
    if role == "writer":
        writer(
            sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
        )
    elif role == "sidecar":
        sidecar(sys.argv[2])
    elif role == "exit":
        exit_without_stop(sys.argv[2])
    elif role == "burst":
        burst(*sys.argv[2:7])
    elif role == "moto":
        moto(int(sys.argv[2]))
    elif role == "proxy":
        proxy(int(sys.argv[2]), int(sys.argv[3]))
    else:  # pragma: no cover
        raise SystemExit(f"unknown role {role}")
