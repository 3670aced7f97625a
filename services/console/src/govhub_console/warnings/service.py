"""The case officer's pages (预警): the agency's queue of warnings, one warning with its
evidence, history and reminders, the moves of a case, silences and the agency's figures.

Everything comes from alerting's public API called with the person's own token, so the
agency restrictions are the API's: another agency's warning answers 404 here as there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from govhub_common.clock import BUSINESS_TZ
from govhub_common.db import Database
from govhub_console.auth.models import ConsoleSession
from govhub_console.auth.service import call_api
from govhub_console.hub_api import HubApi
from govhub_console.ops.service import problem_of

ALERTING = "/alerting/v1"
PAGE_SIZE = 50
# The API's largest page: the agency's rules and a year's figures come in one or two calls.
LARGEST_PAGE = 5000

STATUSES = ("open", "investigating", "resolved")
RESOLUTIONS = ("complied_late", "exempt", "false_positive", "penalised", "other")
ORDERS = ("oldest", "newest")

# Words of the API's values (literal keys, so the catalogs' test sees them used).
STATUS_WORDS = {
    "open": "warnings.status_open",
    "investigating": "warnings.status_investigating",
    "resolved": "warnings.status_resolved",
}
RESOLUTION_WORDS = {
    "complied_late": "warnings.resolution_complied_late",
    "exempt": "warnings.resolution_exempt",
    "false_positive": "warnings.resolution_false_positive",
    "penalised": "warnings.resolution_penalised",
    "other": "warnings.resolution_other",
}
ORDER_WORDS = {"oldest": "warnings.order_oldest", "newest": "warnings.order_newest"}
# What a successful action says on the warning's page (?done=...).
DONE_WORDS = {
    "investigating": "warnings.done_claimed",
    "resolved": "warnings.done_resolved",
    "open": "warnings.done_reopened",
    "silenced": "warnings.done_silenced",
}
# The moves a case officer is offered from each status (the API decides in the end).
MOVES = {"open": ("investigating", "resolved"), "investigating": ("resolved", "open")}


@dataclass(frozen=True)
class Caller:
    """The signed-in person calling alerting's API."""

    db: Database
    person: ConsoleSession
    api: HubApi

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v not in (None, "")}
        if body is not None:
            kwargs["json"] = body
        reply = await call_api(self.db, self.person, self.api, method, ALERTING + path, **kwargs)
        if reply.status_code not in (200, 201):
            raise problem_of(reply)
        return reply.json()


# ---- times ----


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def shown_time(value: str | None) -> str:
    """An API time as Asia/Shanghai wall time, to the minute."""
    moment = parse_time(value)
    if moment is None:
        return value or ""
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")


def business_day(value: str | None) -> date | None:
    moment = parse_time(value)
    return moment.astimezone(BUSINESS_TZ).date() if moment else None


def percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


# ---- the queue ----


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filter form as given (strings, so the form shows them back)."""

    rule: str = ""
    status: str = ""
    date_from: str = ""
    date_to: str = ""
    older_than: str = ""
    order: str = "oldest"
    errors: tuple[str, ...] = ()

    def api_params(self, today: date) -> dict[str, Any]:
        """The API's query. "Older than N days" is a latest raising date: today - N."""
        latest = _date(self.date_to) if self.date_to else None
        if self.older_than:
            bound = today - timedelta(days=int(self.older_than))
            latest = min(latest, bound) if latest else bound
        return {
            "rule": self.rule,
            "status": self.status,
            "from": self.date_from,
            "to": latest.isoformat() if latest else "",
            "order": self.order,
            "limit": PAGE_SIZE,
        }

    def query(self, **more: str) -> str:
        """The filters as a query string (links keep them)."""
        fields = {
            "rule": self.rule,
            "status": self.status,
            "from": self.date_from,
            "to": self.date_to,
            "older_than": self.older_than,
            "order": self.order,
            **more,
        }
        return urlencode({k: v for k, v in fields.items() if v})


def parse_filters(query: Mapping[str, str]) -> QueueFilters:
    """The filters of the queue's GET form; a value the form could not have sent is named
    among `errors` and left out, so the page still answers."""
    errors: list[str] = []

    def pick(name: str, allowed: tuple[str, ...], error: str, default: str = "") -> str:
        value = query.get(name, "").strip()
        if value and value not in allowed:
            errors.append(error)
            return default
        return value or default

    def day(name: str) -> str:
        value = query.get(name, "").strip()
        if value and (len(value) > 10 or _date(value) is None):
            errors.append("warnings.bad_date")
            return ""
        return value

    older = query.get("older_than", "").strip()
    if older and not (older.isdigit() and len(older) <= 5):
        errors.append("warnings.bad_older_than")
        older = ""
    return QueueFilters(
        rule=query.get("rule", "").strip()[:200],
        status=pick("status", STATUSES, "warnings.bad_status"),
        date_from=day("from"),
        date_to=day("to"),
        older_than=older,
        order=pick("order", ORDERS, "warnings.bad_order", "oldest"),
        errors=tuple(dict.fromkeys(errors)),
    )


@dataclass(frozen=True)
class QueueRow:
    id: int
    raised: str
    age: int | None
    title: str
    subject: str
    status: str
    due_date: str


@dataclass(frozen=True)
class Rule:
    id: str
    title: str


async def agency_rules(caller: Caller) -> list[Rule]:
    """The rules assigned to the person's agency, by id (the API lists every rule)."""
    rules: list[Rule] = []
    cursor = None
    while True:
        page = await caller.json("GET", "/rules", params={"limit": 500, "cursor": cursor})
        for item in page["data"]:
            definition = item.get("definition") or {}
            if definition.get("assigned_agency") == caller.person.agency:
                rules.append(Rule(item["id"], str(definition.get("title") or item["id"])))
        cursor = page.get("next")
        if not cursor:
            return rules


async def queue(
    caller: Caller, filters: QueueFilters, *, cursor: str | None, today: date
) -> tuple[list[QueueRow], str | None]:
    """One page of the agency's warnings (the API gives an agency its own only)."""
    params = {**filters.api_params(today), "cursor": cursor}
    page = await caller.json("GET", "/warnings", params=params)
    rows = []
    for item in page["data"]:
        raised = business_day(item["raised_at"])
        rows.append(
            QueueRow(
                id=int(item["id"]),
                raised=raised.isoformat() if raised else "",
                age=(today - raised).days if raised else None,
                title=item["title"],
                subject=item["subject"],
                status=item["status"],
                due_date=item.get("due_date") or "",
            )
        )
    return rows, page.get("next")


# ---- one warning and its moves ----


async def warning(caller: Caller, warning_id: int) -> dict[str, Any]:
    """The warning as the API shows it to the person (evidence already restricted to the
    agency's grants, personal data masked)."""
    detail: dict[str, Any] = await caller.json("GET", f"/warnings/{warning_id}")
    return detail


async def move(
    caller: Caller, warning_id: int, *, status: str, resolution: str = "", note: str = ""
) -> None:
    body: dict[str, Any] = {"status": status}
    if status == "resolved":
        # An empty choice goes to the API as null: its refusal (422) says what is missing.
        body["resolution"] = resolution or None
    if note.strip():
        body["note"] = note.strip()
    await caller.json("POST", f"/warnings/{warning_id}/transitions", body=body)


async def silence(caller: Caller, warning_id: int, *, until: str, reason: str) -> dict[str, Any]:
    """Silence the warning's rule for its subject: read from the warning itself (the API
    answers 404 for another agency's), never from the form."""
    case = await warning(caller, warning_id)
    body = {
        "rule_id": case["rule_id"],
        "subject": case["subject"],
        "until": until.strip(),
        "reason": reason.strip(),
    }
    created: dict[str, Any] = await caller.json("POST", "/silences", body=body)
    return created


# ---- figures ----

MONTHS = tuple(range(1, 13))
# The chart's geometry (SVG user units).
CHART_WIDTH = 720
CHART_HEIGHT = 260
PLOT_LEFT = 48
PLOT_TOP = 16
PLOT_HEIGHT = 200
BAR = 18
SERIES = (("follow_up_rate", "#0a58a8"), ("compliance_rate", "#1e6b34"))


@dataclass(frozen=True)
class MonthFigures:
    month: int
    label: str  # YYYY-MM
    triggers: int = 0
    warnings_raised: int = 0
    warnings_open: int = 0
    complied_late: int = 0
    false_positives: int = 0
    follow_up_rate: float | None = None
    compliance_rate: float | None = None


@dataclass(frozen=True)
class Bar:
    series: str
    month: str
    rate: float
    x: float
    y: float
    height: float
    fill: str


@dataclass
class RuleYear:
    id: str
    title: str
    months: list[MonthFigures] = field(default_factory=list)

    @property
    def bars(self) -> list[Bar]:
        """Bars of each month's rates, side by side; a month without a rate has none."""
        slot = (CHART_WIDTH - PLOT_LEFT - 8) / len(MONTHS)
        bars = []
        for index, figures in enumerate(self.months):
            for offset, (series, fill) in enumerate(SERIES):
                rate = getattr(figures, series)
                if rate is None:
                    continue
                height = round(PLOT_HEIGHT * max(0.0, min(1.0, rate)), 1)
                x = PLOT_LEFT + index * slot + slot / 2 - BAR + offset * BAR
                y = PLOT_TOP + PLOT_HEIGHT - height
                bars.append(Bar(series, figures.label, rate, round(x, 1), y, height, fill))
        return bars

    @property
    def ticks(self) -> list[tuple[float, int]]:
        """Month labels' x positions."""
        slot = (CHART_WIDTH - PLOT_LEFT - 8) / len(MONTHS)
        return [(round(PLOT_LEFT + (m - 0.5) * slot, 1), m) for m in MONTHS]


CHART = {
    "width": CHART_WIDTH,
    "height": CHART_HEIGHT,
    "left": PLOT_LEFT,
    "top": PLOT_TOP,
    "bottom": PLOT_TOP + PLOT_HEIGHT,
    "right": CHART_WIDTH - 8,
    "grid": [(PLOT_TOP + PLOT_HEIGHT * (1 - share), int(share * 100)) for share in (0, 0.5, 1)],
    "series": SERIES,
}


def _month(item: dict[str, Any], month: int, label: str) -> MonthFigures:
    return MonthFigures(
        month=month,
        label=label,
        triggers=int(item.get("triggers") or 0),
        warnings_raised=int(item.get("warnings_raised") or 0),
        warnings_open=int(item.get("warnings_open") or 0),
        complied_late=int(item.get("complied_late") or 0),
        false_positives=int(item.get("false_positives") or 0),
        follow_up_rate=item.get("follow_up_rate"),
        compliance_rate=item.get("compliance_rate"),
    )


async def figures(caller: Caller, year: int) -> list[RuleYear]:
    """The agency's rules month by month through `year` (triggers' business dates): the
    API gives an agency the figures of its own rules; months without activity are zero."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    titles: dict[str, str] = {}
    cursor = None
    params = {"by": "month", "from": f"{year:04d}-01-01", "to": f"{year:04d}-12-31"}
    while True:
        page = await caller.json(
            "GET", "/stats", params={**params, "limit": LARGEST_PAGE, "cursor": cursor}
        )
        for item in page["data"]:
            titles[item["rule_id"]] = item["title"]
            if item.get("month"):
                found.setdefault(item["rule_id"], {})[item["month"]] = item
        cursor = page.get("next")
        if not cursor:
            break
    for rule in await agency_rules(caller):
        titles.setdefault(rule.id, rule.title)
    result = []
    for rule_id in sorted(titles):
        months = found.get(rule_id, {})
        rows = []
        for month in MONTHS:
            label = f"{year:04d}-{month:02d}"
            rows.append(_month(months.get(label, {}), month, label))
        result.append(RuleYear(rule_id, titles[rule_id], rows))
    return result


def parse_year(value: str | None, default: int) -> int | None:
    """The figures' year from the form; None when it is not a year the API takes."""
    if not value:
        return default
    if not value.isdigit() or not 1900 <= int(value) <= 9998:
        return None
    return int(value)


def year_choices(selected: int, today: date) -> list[int]:
    """The business year and the five before it, and the one shown."""
    return sorted({*range(today.year - 5, today.year + 1), selected}, reverse=True)
