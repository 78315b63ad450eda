"""Budgets that act: status per project and period, and the guard agents consult.

Two readers of spend, for two situations:

* `voicegw budget check` (CLI) opens the store, folds the spool first and sums exactly.
* `BudgetGuard` runs inside agent processes, which must never open DuckDB (a CLI may hold
  its lock, and holding it ourselves would lock the CLI out). It reads the spend snapshot
  the store writes after every fold plus the spool bytes past the snapshot's offsets, from
  every process, so spend is current to within one flush interval plus `refresh_seconds`.

Days and months are calendar periods in the configured time zone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from voicegw_cli import clock as _clock
from voicegw_cli.errors import BudgetExceededError, VoicegwError

if TYPE_CHECKING:
    from voicegw_cli.config import Config, Project

log = logging.getLogger("voicegw.budget")

Period = Literal["day", "month"]
PERIODS: tuple[Period, ...] = ("day", "month")
#: Share of the budget at which a warning is logged before it is exceeded.
WARN_RATIO = Decimal("0.8")
_HUNDRED = Decimal(100)
_ADJ = {"day": "daily", "month": "monthly"}


# ------------------------------------------------------------------ status


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Spend against one budget. `status`: ok, warning (>= 80%), exceeded (>= 100%),
    or no_budget (the period has no limit)."""

    project: str
    period: Period
    start: date
    end: date
    timezone: str
    spend: Decimal
    budget: Decimal | None
    status: str
    action: str
    #: Items in the period no price list knows: spend is then a lower bound.
    unpriced_items: int = 0

    @property
    def percent(self) -> Decimal | None:
        if not self.budget:
            return None
        return (self.spend / self.budget * _HUNDRED).quantize(Decimal("0.1"))

    @property
    def exceeded(self) -> bool:
        return self.status == "exceeded"

    def as_row(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "period": self.period,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "spend_usd": self.spend,
            "budget_usd": self.budget,
            "percent": self.percent,
            "status": self.status,
            "action": self.action,
            "unpriced_items": self.unpriced_items,
            "spend_is_lower_bound": self.unpriced_items > 0,
        }


def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """First and last local day of the period containing `day`."""
    from voicegw_cli import periods

    p = periods.day(day, UTC) if period == "day" else periods.month(day, UTC)  # type: ignore[arg-type]
    return p.start, p.end


def budget_for(project: Project, period: Period) -> Decimal | None:
    amount = project.daily_budget if period == "day" else project.monthly_budget
    return amount if amount and amount > 0 else None


def classify(spend: Decimal, budget: Decimal | None) -> str:
    """no_budget, ok, warning (at 80%) or exceeded (at 100%): the one rule every report uses."""
    if not budget:
        return "no_budget"
    if spend >= budget:
        return "exceeded"
    return "warning" if spend >= budget * WARN_RATIO else "ok"


def evaluate(
    project: Project | None,
    project_id: str,
    period: Period,
    day: date,
    spend: Decimal,
    timezone: str,
    unpriced_items: int = 0,
) -> BudgetStatus:
    """The status of one project's budget for the period containing local `day`."""
    start, end = period_bounds(period, day)
    budget = budget_for(project, period) if project is not None else None
    status = classify(spend, budget)
    return BudgetStatus(
        project=project_id,
        period=period,
        start=start,
        end=end,
        timezone=timezone,
        spend=spend,
        budget=budget,
        status=status,
        action=project.budget_action if project is not None else "warn",
        unpriced_items=unpriced_items,
    )


# ------------------------------------------------------------------ spend without DuckDB


def _db_projects(section: dict[str, Any]) -> dict[str, Project]:
    from voicegw_cli.config import BUDGET_ACTIONS, Project

    out = {}
    for pid, body in section.items():
        try:
            action = body.get("budget_action") or "warn"
            out[pid] = Project(
                id=pid,
                name=pid,
                daily_budget=Decimal(body.get("daily_budget") or 0),
                monthly_budget=Decimal(body.get("monthly_budget") or 0),
                budget_action=action if action in BUDGET_ACTIONS else "warn",
                fallback_stack=body.get("fallback_stack"),
                source="db",
            )
        except (InvalidOperation, AttributeError, TypeError):
            continue
    return out


def spend_by_day(data: bytes, tz: Any, sums: dict[tuple[str, str], Decimal]) -> None:
    """Add spool lines' priced spend to `sums` by (project, local day ISO)."""
    for line in data.splitlines():
        if not line.strip() or line.startswith(b'{"kind":'):
            continue  # call records, latency samples, errors: no spend
        try:
            rec = json.loads(line)
            cost = rec.get("cost_usd")
            if cost is None:
                continue
            day = datetime.fromisoformat(rec["timestamp"]).astimezone(tz).date().isoformat()
            key = (rec.get("project") or "default", day)
            sums[key] = sums.get(key, Decimal(0)) + Decimal(str(cost))
        except (ValueError, KeyError, TypeError, InvalidOperation, AttributeError):
            continue  # the fold quarantines bad lines; they carry no usable spend


def _add_days(
    out: dict[str, dict[str, Decimal]], spend: dict[str, Any], sign: int = 1, what: str = ""
) -> None:
    for project, days in (spend or {}).items():
        bucket = out.setdefault(project, {})
        for day, amount in (days or {}).items():
            try:
                bucket[day] = bucket.get(day, Decimal(0)) + sign * Decimal(str(amount))
            except InvalidOperation:
                raise SpendUnavailable(
                    f"spend snapshot{what}: bad amount {amount!r} for {project} {day}"
                ) from None


class SpendUnavailable(VoicegwError):
    """Spend could not be read (unreadable snapshot or spool)."""

    exit_code = 3


@dataclass(slots=True)
class _FileSums:
    base: int  # the snapshot offset this file was parsed from
    end: int  # parsed up to here
    sums: dict[tuple[str, str], Decimal] = field(default_factory=dict)


class SpendReader:
    """Per-project spend by local day: the store's snapshot plus unfolded spool lines.

    Incremental: each spool file is parsed once from the snapshot's offset, then only its
    new bytes; a new snapshot (after a fold) moves the offsets and the file is re-read from
    there. Never opens DuckDB, never takes a lock.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._files: dict[str, _FileSums] = {}
        #: Fleet mode: sums of this host's shipped segments (immutable), by path.
        self._shipped: dict[str, dict[tuple[str, str], Decimal]] = {}
        self._snapshot_stamp: str | None = None
        self._warned_tz = False
        #: Runtime (db) projects' budgets, as the last fold saw them.
        self.db_projects: dict[str, Project] = {}

    def _snapshot(self) -> dict[str, Any] | None:
        from voicegw_cli.store.snapshot import snapshot_path

        path = snapshot_path(self.config)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None  # nothing folded yet: the spool is all there is
        except OSError as exc:
            raise SpendUnavailable(f"{path}: cannot read the spend snapshot: {exc}") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("spend", {}), dict):
                raise ValueError("not a spend snapshot")
        except ValueError as exc:
            raise SpendUnavailable(f"{path}: unreadable spend snapshot: {exc}") from None
        return data

    def _parse(self, data: bytes, sums: dict[tuple[str, str], Decimal]) -> None:
        spend_by_day(data, self.config.tz, sums)

    def read(self) -> dict[str, dict[str, Decimal]]:
        """{project: {local day ISO: spend}}; raises SpendUnavailable."""
        from voicegw_cli.spool import pending

        if self.config.ship is not None:
            return self._read_fleet()
        snap = self._snapshot()
        if snap:
            self.db_projects = _db_projects(snap.get("projects") or {})
        stamp = snap.get("written_at") if snap else None
        offsets: dict[str, int] = dict(snap.get("offsets") or {}) if snap else {}
        if snap and snap.get("timezone") not in (None, self.config.timezone):
            if not self._warned_tz:
                self._warned_tz = True
                log.warning(
                    "voicegw: the spend snapshot uses time zone %s, config uses %s; "
                    "run any voicegw command to rewrite it",
                    snap.get("timezone"),
                    self.config.timezone,
                )
        read_from = dict(offsets)
        for name, st in self._files.items():
            if st.base == offsets.get(name, 0):
                read_from[name] = st.end
        seen: set[str] = set()
        try:
            for chunk in pending(self.config.spool_dir, read_from):
                name = chunk.name
                seen.add(name)
                base = offsets.get(name, 0)
                st = self._files.get(name)
                if st is None or st.base != base:
                    st = self._files[name] = _FileSums(base=base, end=base)
                if chunk.data:
                    self._parse(chunk.data, st.sums)
                st.end = chunk.end
        except OSError as exc:
            raise SpendUnavailable(
                f"{self.config.spool_dir}: cannot read the spool: {exc}"
            ) from None
        # A vanished file was folded and retired; until a newer snapshot includes it, keep
        # its sums so a fold in progress does not make spend dip.
        for name in list(self._files):
            if name not in seen and (stamp != self._snapshot_stamp or name in offsets):
                del self._files[name]
        self._snapshot_stamp = stamp

        out: dict[str, dict[str, Decimal]] = {}
        if snap:
            _add_days(out, snap.get("spend") or {})
        for st in self._files.values():
            for (project, day), amount in st.sums.items():
                bucket = out.setdefault(project, {})
                bucket[day] = bucket.get(day, Decimal(0)) + amount
        return out

    def _read_fleet(self) -> dict[str, dict[str, Decimal]]:
        """The fleet's spend: the published snapshot (every host, as last folded), with
        this host's share of the windows still open swapped for its own shipped copies,
        plus what this host has not shipped yet. Exact for this host; other hosts are
        current to within one ship interval plus one fold interval."""
        from voicegw_cli.fleet.layout import WINDOW
        from voicegw_cli.fleet.ship import sealed_through, ship_host, shipped_files
        from voicegw_cli.fleet.snapshot import fetch
        from voicegw_cli.fleet.target import TargetError
        from voicegw_cli.spool import pending

        try:
            snap = fetch(self.config, max_age=self.config.budgets.refresh_seconds)
        except TargetError as exc:
            raise SpendUnavailable(f"cannot read the fleet's spend snapshot: {exc}") from None
        if snap:
            self.db_projects = _db_projects(snap.get("projects") or {})
        host = ship_host(self.config)
        sealed = sealed_through(snap)
        out: dict[str, dict[str, Decimal]] = {}
        if snap:
            _add_days(out, snap.get("spend") or {})
            for win, hosts in ((snap.get("fleet") or {}).get("open") or {}).items():
                _add_days(out, (hosts or {}).get(host) or {}, -1, f" (window {win})")
        try:
            local: dict[str, _FileSums] = {}
            for chunk in pending(self.config.spool_dir, {}):  # unshipped: all of it
                st = self._files.get(chunk.key)
                if st is None or st.end > chunk.end:
                    st = _FileSums(base=0, end=0)
                    self._parse(chunk.data, st.sums)
                elif chunk.end > st.end:
                    self._parse(chunk.data[st.end :], st.sums)
                st.end = chunk.end
                local[chunk.key] = st
            shipped: dict[str, dict[tuple[str, str], Decimal]] = {}
            for start, rel, path in shipped_files(self.config.spool_dir):
                if "/" in rel or (sealed is not None and start + WINDOW <= sealed):
                    continue  # another record kind, or already in the snapshot
                key = str(path)
                sums = self._shipped.get(key)
                if sums is None:
                    sums = {}
                    try:
                        self._parse(path.read_bytes(), sums)
                    except FileNotFoundError:
                        continue  # pruned meanwhile: its window is sealed
                shipped[key] = sums
                local.pop(rel, None)  # moved while we read: count the shipped copy
        except OSError as exc:
            raise SpendUnavailable(
                f"{self.config.spool_dir}: cannot read the spool: {exc}"
            ) from None
        self._files, self._shipped = local, shipped
        for sums in [*(st.sums for st in local.values()), *shipped.values()]:
            for (project, day), amount in sums.items():
                bucket = out.setdefault(project, {})
                bucket[day] = bucket.get(day, Decimal(0)) + amount
        return out


def sum_period(days: dict[str, Decimal], start: date, end: date) -> Decimal:
    lo, hi = start.isoformat(), end.isoformat()
    return sum((v for d, v in days.items() if lo <= d <= hi), Decimal(0))


# ------------------------------------------------------------------ the guard


class BudgetUnavailableError(BudgetExceededError):
    """Spend could not be read and `budgets.fail_closed` is true: sessions are refused."""

    def __init__(self, project: str, reason: str) -> None:
        VoicegwError.__init__(
            self,
            f"project {project!r}: spend cannot be read ({reason}) and "
            "budgets.fail_closed is true; new sessions are refused",
        )
        self.project, self.spent, self.budget, self.period = project, None, None, "day"
        self.reason = reason


@dataclass(slots=True)
class Admission:
    """What the guard decided for a new session.

    `action` is the budget action applied: "allow", "warn", "throttle" (after waiting
    `delay_seconds`) or "block" (never returned: blocking raises). When a throttled project
    names a `fallback_stack`, `fallback` holds its model ids (stt/llm/tts) so the agent can
    build its cheaper pipeline.
    """

    project: str
    action: str
    statuses: list[BudgetStatus]
    delay_seconds: float = 0.0
    fallback_stack: str | None = None
    fallback: dict[str, str] | None = None
    spend_known: bool = True

    @property
    def throttled(self) -> bool:
        return self.action == "throttle"


class BudgetGuard:
    """Applies each project's `budget_action` to new sessions.

    Spend is refreshed at most every `budgets.refresh_seconds`; reads happen off the event
    loop in `admit` (a thread), and in the caller's thread for `check`.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] | None = None,
        reader: SpendReader | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or _clock.now
        self.reader = reader or SpendReader(config)
        self._sleep = sleep or asyncio.sleep
        self._spend: dict[str, dict[str, Decimal]] | None = None
        self._error: str | None = None
        self._refreshed_at: float | None = None
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str, str, str]] = set()

    # ------------------------------------------------------------ spend

    @property
    def stale(self) -> bool:
        return (
            self._refreshed_at is None
            or time.monotonic() - self._refreshed_at >= self.config.budgets.refresh_seconds
        )

    def refresh(self) -> None:
        """Re-read spend (blocking I/O: call off the event loop)."""
        asked = time.monotonic()
        with self._lock:
            if self._refreshed_at is not None and self._refreshed_at >= asked:
                return  # another caller refreshed while we waited for the lock
            try:
                self._spend = self.reader.read()
                self._error = None
            except Exception as exc:  # any failure follows the configured policy
                self._error = str(exc) or type(exc).__name__
                log.error("voicegw budget guard: cannot read spend: %s", self._error)
            self._refreshed_at = time.monotonic()

    def invalidate(self) -> None:
        self._refreshed_at = None

    def _today(self) -> date:
        return self.clock().astimezone(self.config.tz).date()

    def project(self, project: str) -> Project | None:
        """YAML first, then runtime projects as the last fold saw them (YAML wins)."""
        return self.config.projects.get(project) or getattr(self.reader, "db_projects", {}).get(
            project
        )

    def statuses(self, project: str) -> list[BudgetStatus]:
        """Day and month status from the cached spend (refresh first when needed)."""
        today = self._today()
        days = (self._spend or {}).get(project, {})
        proj = self.project(project)
        out = []
        for period in PERIODS:
            start, end = period_bounds(period, today)
            out.append(
                evaluate(
                    proj, project, period, today, sum_period(days, start, end), self.config.timezone
                )
            )
        return out

    # ------------------------------------------------------------ decisions

    def _resolve(self, project: str | None) -> str:
        from voicegw_cli.config import resolve_project

        return resolve_project(project, self.config)

    def _log_once(self, st: BudgetStatus, level: str, message: str) -> None:
        key = (st.project, st.period, st.start.isoformat(), level)
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message)

    def decide(self, project: str | None = None) -> Admission:
        """The decision from cached spend, without waiting; raises for `block`."""
        pid = self._resolve(project)
        if self._error is not None:
            if self.config.budgets.fail_closed:
                raise BudgetUnavailableError(pid, self._error)
            return Admission(pid, "allow", [], spend_known=False)
        statuses = self.statuses(pid)
        proj = self.project(pid)
        over = [s for s in statuses if s.exceeded]
        for st in statuses:
            if st.status == "warning":
                self._log_once(
                    st,
                    "80",
                    f"voicegw: project {pid!r} has used {st.percent}% of "
                    f"its {_ADJ[st.period]} budget (${st.spend} of ${st.budget})",
                )
            elif st.exceeded:
                self._log_once(
                    st,
                    "100",
                    f"voicegw: project {pid!r} is over its "
                    f"{_ADJ[st.period]} budget (${st.spend} of ${st.budget}); "
                    f"action: {st.action}",
                )
        if not over or proj is None:
            return Admission(pid, "allow", statuses)
        action = proj.budget_action
        if action == "block":
            worst = over[0]
            raise BudgetExceededError(pid, worst.spend, worst.budget, worst.period)
        if action == "throttle":
            fallback = self.config.stacks.get(proj.fallback_stack) if proj.fallback_stack else None
            return Admission(
                pid,
                "throttle",
                statuses,
                delay_seconds=self.config.budgets.throttle_delay_seconds,
                fallback_stack=proj.fallback_stack,
                fallback=dict(fallback) if fallback is not None else None,
            )
        return Admission(pid, "warn", statuses)

    def check(self, project: str | None = None) -> Admission:
        """Synchronous decision (refreshes in this thread when stale); never sleeps."""
        if self.stale:
            self.refresh()
        return self.decide(project)

    async def admit(self, project: str | None = None) -> Admission:
        """Call before starting a session. Raises `BudgetExceededError` for a blocked
        project; waits `throttle_delay_seconds` for a throttled one and returns its
        fallback stack. Spend is read in a worker thread, never on the loop."""
        if self.stale:
            await asyncio.to_thread(self.refresh)
        decision = self.decide(project)
        if decision.delay_seconds > 0:
            await self._sleep(decision.delay_seconds)
        return decision

    async def is_blocked(self, project: str | None) -> bool:
        """True when new sessions of `project` would be refused (for job-request hooks)."""
        try:
            if self.stale:
                await asyncio.to_thread(self.refresh)
            self.decide(project)
        except BudgetExceededError:
            return True
        return False


# ------------------------------------------------------------------ CLI-side computation


def check_store(
    conn: Any,
    config: Config,
    *,
    period: Period,
    day: date,
    projects: dict[str, Project],
    only: str | None = None,
) -> list[BudgetStatus]:
    """Exact statuses from the store (the CLI folds the spool before calling this)."""
    from voicegw_cli import periods
    from voicegw_cli.store.queries import spend_per_project

    p = periods.day(day, config.tz) if period == "day" else periods.month(day, config.tz)
    spend = spend_per_project(conn, p.start_utc, p.end_utc)
    ids = [only] if only else sorted(set(projects) | set(spend))
    out = []
    for pid in ids:
        amount, _, unpriced_n = spend.get(pid, (Decimal(0), 0, 0))
        out.append(
            evaluate(projects.get(pid), pid, period, day, amount, config.timezone, unpriced_n)
        )
    return out


#: `period` words that mean "the daily budget" / "the monthly budget" of `date`'s period.
_OLD_WORDS = {"day": "today", "month": "month"}


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """`voicegw budget check` (and `GET /v1/budgets`): every status of one day or month."""

    period: Any  # periods.Period
    kind: Period
    statuses: list[BudgetStatus]

    @property
    def over(self) -> list[str]:
        return [s.project for s in self.statuses if s.exceeded]

    @property
    def unpriced(self) -> list[BudgetStatus]:
        return [s for s in self.statuses if s.unpriced_items]

    def as_dict(self) -> dict[str, Any]:
        """The JSON document: the period, daily or monthly, who is over, a row each."""
        return {
            "period": self.period.as_dict(),
            "budget": self.kind,
            "over_budget": self.over,
            "rows": [s.as_row() for s in self.statuses],
        }


def budget_check(
    store: Any,
    *,
    period: str | None = None,
    date_: str | None = None,
    project: str | None = None,
) -> BudgetCheck:
    """Statuses for a day (the daily budgets) or a month (the monthly ones) in the
    configured zone: `period` is a day word or date, a month word or YYYY-MM; `day` (the
    default) and `month` with `date_` (a local day in the period) still work."""
    from voicegw_cli import periods
    from voicegw_cli.config import merged_projects
    from voicegw_cli.errors import UsageError
    from voicegw_cli.reports import check_project

    cfg = store.config
    word = (period or "day").strip().lower()
    if word in _OLD_WORDS and date_:
        p = periods.parse_period(periods.parse_date(date_, "--date").isoformat(), cfg.tz)
        p = p if word == "day" else periods.month(p.start, cfg.tz)
    elif date_:
        raise UsageError("--date goes with --period day or --period month")
    else:
        p = periods.parse_period(_OLD_WORDS.get(word, word), cfg.tz)
    kind: Period
    if p.start == p.end:
        kind = "day"
    elif p.start.day == 1 and periods.month(p.start, cfg.tz).end == p.end:
        kind = "month"
    else:
        raise UsageError(f"--period {period}: budgets are daily or monthly; give a day or a month")
    if project:
        check_project(store, project)
    projects = merged_projects(cfg, store.conn)
    statuses = check_store(
        store.conn, cfg, period=kind, day=p.start, projects=projects, only=project
    )
    return BudgetCheck(p, kind, statuses)
