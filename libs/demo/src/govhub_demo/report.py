"""The report: the hub's own figures beside the founding document's and the ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govhub_demo.city import City, InjectedFaults
from govhub_demo.client import HubClient
from govhub_demo.scenario import Measurements

RULES = {
    # reminders are scored like a rule: every reminder deserved, none missed
    "sms_reminder_day_20": "温馨提示 SMS reminder on day 20",
    "tax_registration_missing": "应办未办税务登记 (licence, no tax registration after 30 days)",
    "tax_deregistration_missing": "已办工商注销未办税务注销 (deregistered, not at tax)",
    "pension_after_death": "死亡后仍领取养老金 (pension paid after death)",
    "duplicate_relief": "重复救助 (same relief, one household, several agencies)",
}


@dataclass
class RuleScore:
    rule_id: str
    found: int
    expected: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.expected if self.expected else 1.0


# The scorecard's dimensions (docs/quality.md), in its order.
DIMENSIONS = (
    "timeliness",
    "validity",
    "uniqueness",
    "consistency",
    "completeness",
    "responsiveness",
)


@dataclass(frozen=True)
class FaultFound:
    """One injected fault: what the city did, and what the scorecards show of it. Found
    exactly when every figure the scorecard gives equals the one the injection implies."""

    fault: str
    agency: str
    topic: str | None
    injected: str
    shown: str
    expected: dict[str, Any]
    found: dict[str, Any]

    @property
    def exact(self) -> bool:
        return self.found == self.expected


@dataclass
class Report:
    scale: float
    days: int
    seed: int
    measurements: Measurements
    stats: dict[str, dict[str, Any]]
    scores: list[RuleScore]
    reminders: RuleScore
    enterprises: int
    registration_rate_truth: float
    records_truth: int = 0  # the records the exchange must accept
    faults_injected: InjectedFaults | None = None
    period: tuple[str, str] = ("", "")
    # the city's agencies' scorecards of the period, best grade first
    scorecards: list[dict[str, Any]] = field(default_factory=list)
    faults: list[FaultFound] = field(default_factory=list)

    @property
    def within_one_minute(self) -> float:
        lat = self.measurements.delivery_latencies
        return sum(1 for x in lat if x <= 60) / len(lat) if lat else 0.0

    @property
    def rules_exact(self) -> bool:
        return all(s.precision == 1.0 and s.recall == 1.0 for s in [*self.scores, self.reminders])

    @property
    def faults_exact(self) -> bool:
        return all(f.exact for f in self.faults)

    @property
    def all_exact(self) -> bool:
        """Every warning deserved and none missed, every injected fault found exactly."""
        return self.rules_exact and self.faults_exact

    def markdown(self) -> str:
        m = self.measurements
        lat = sorted(m.delivery_latencies)
        p99 = lat[int(0.99 * (len(lat) - 1))] if lat else 0.0
        tax = self.stats.get("tax_registration_missing", {})
        lines = [
            f"# govhub demo: the Guangzhou year (scale {self.scale}, {self.days} days, seed {self.seed})",
            "",
            f"Replayed in {m.elapsed_seconds:.1f} s: {m.records_accepted:,} records accepted in "
            f"{m.publish_calls:,} publish calls ({m.records_accepted / max(m.elapsed_seconds, 1e-9):,.0f} records/s overall).",
            "",
            "Time by phase: "
            + ", ".join(
                f"{k} {v:.1f} s" for k, v in sorted(m.phase_seconds.items(), key=lambda kv: -kv[1])
            )
            + ".",
            "",
            "| figure | govhub measured | ground truth | founding document (2008) |",
            "|---|---|---|---|",
            f"| new-enterprise records sent to tax | {tax.get('triggers', 0):,} | {self.enterprises:,} | 34,000+ |",
            f"| records exchanged | {m.records_accepted:,} | {self.records_truth:,} | 400 million (cumulative) |",
            f"| records rejected (faults injected) | {m.records_rejected:,} | {self._bad_ids():,} | — |",
            f"| delivered to subscribers within one minute | {self.within_one_minute:.1%} (p99 {p99:.2f} s) | 100% | same day |",
            f"| SMS reminders sent (day 20) | {self.reminders.found:,} | {self.reminders.expected:,} | sent (温馨提示) |",
            f"| 应办未办 warnings raised | {tax.get('warnings_raised', 0):,} | {self._expected('tax_registration_missing'):,} | 17,000+ (cumulative) |",
            f"| follow-up rate (complied late / warned) | {_pct(tax.get('follow_up_rate'))} | — | over 80% |",
            f"| tax registration rate | {_pct(_registered_share(tax))} | {self.registration_rate_truth:.1%} | over 94% |",
            f"| pension-after-death cases | {self._found('pension_after_death'):,} | {self._expected('pension_after_death'):,} | (pension fraud 骗保) |",
            f"| duplicate-relief cases | {self._found('duplicate_relief'):,} | {self._expected('duplicate_relief'):,} | (8 quilts 8条棉被) |",
            "",
            "| rule | warnings | expected | precision | recall |",
            "|---|---|---|---|---|",
        ]
        for s in [*self.scores, self.reminders]:
            title = RULES.get(s.rule_id, s.rule_id)
            lines.append(
                f"| {title} | {s.found:,} | {s.expected:,} | {s.precision:.1%} | {s.recall:.1%} |"
            )
        lines += [
            "",
            "Every warning deserved and none missed."
            if self.rules_exact
            else "**Precision or recall below 100%: see the rows above.**",
            "",
            *self._scorecards_markdown(),
        ]
        return "\n".join(lines)

    def _scorecards_markdown(self) -> list[str]:
        if not self.scorecards:
            return []
        start, end = self.period
        lines = [
            f"Data-quality scorecards of the agencies, {start} to {end} (docs/quality.md; "
            "scores 0-100, — where a dimension has no data):",
            "",
            "| agency | grade | letter | " + " | ".join(DIMENSIONS) + " |",
            "|---|---|---|" + "---|" * len(DIMENSIONS),
        ]
        for card in self.scorecards:
            scores = " | ".join(_score(card[d]["score"] if card[d] else None) for d in DIMENSIONS)
            grade = card["grade"]
            lines.append(
                f"| {card['agency']} | {_score(grade['score'])} | {grade['letter'] or '—'} | {scores} |"
            )
        if self.faults:
            lines += [
                "",
                "| fault injected | agency, topic | injected | the scorecards show | exact |",
                "|---|---|---|---|---|",
            ]
            for f in self.faults:
                where = f"{f.agency}, {f.topic}" if f.topic else f.agency
                exact = "yes" if f.exact else "**no**"
                lines.append(f"| {f.fault} | {where} | {f.injected} | {f.shown} | {exact} |")
            lines += [
                "",
                "Every injected fault found again, exactly."
                if self.faults_exact
                else "**An injected fault is not found exactly: see the rows above.**",
            ]
        return [*lines, ""]

    def figures(self) -> dict[str, Any]:
        """The report as data (written beside the Markdown, read by the end-to-end tests)."""
        m = self.measurements
        return {
            "scale": self.scale,
            "days": self.days,
            "seed": self.seed,
            "elapsed_seconds": m.elapsed_seconds,
            "records_published": m.records_published,
            "records_accepted": m.records_accepted,
            "records_rejected": m.records_rejected,
            "records_truth": self.records_truth,
            "delivered_within_one_minute": self.within_one_minute,
            "enterprises": self.enterprises,
            "stats": self.stats,
            "rules": {
                s.rule_id: {
                    "found": s.found,
                    "expected": s.expected,
                    "precision": s.precision,
                    "recall": s.recall,
                }
                for s in [*self.scores, self.reminders]
            },
            "rules_exact": self.rules_exact,
            "scorecard_period": {"from": self.period[0], "to": self.period[1]},
            "scorecard_months": m.scorecard_months,
            "scorecards": [
                {
                    "agency": card["agency"],
                    "grade": card["grade"]["score"],
                    "letter": card["grade"]["letter"],
                    **{d: card[d]["score"] if card[d] else None for d in DIMENSIONS},
                }
                for card in self.scorecards
            ],
            "faults": [
                {
                    "fault": f.fault,
                    "agency": f.agency,
                    "topic": f.topic,
                    "expected": f.expected,
                    "found": f.found,
                    "exact": f.exact,
                }
                for f in self.faults
            ],
            "faults_exact": self.faults_exact,
            "all_exact": self.all_exact,
        }

    def _bad_ids(self) -> int:
        return self.faults_injected.bad_id_records if self.faults_injected else 0

    def _found(self, rule: str) -> int:
        return next((s.found for s in self.scores if s.rule_id == rule), 0)

    def _expected(self, rule: str) -> int:
        return next((s.expected for s in self.scores if s.rule_id == rule), 0)


def _registered_share(figures: dict[str, Any]) -> float | None:
    """From the counts, not the service's rounded rate, so it compares with the truth."""
    if not figures.get("triggers"):
        return None
    done = figures.get("complied_on_time", 0) + figures.get("complied_late", 0)
    return float(done) / float(figures["triggers"])


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _by_grade(card: dict[str, Any]) -> tuple[float, str]:
    """Best grade first, no grade last, then by agency."""
    score = card["grade"]["score"]
    return (-score if score is not None else 1.0, card["agency"])


def faults_found(
    f: InjectedFaults,
    agencies: dict[str, dict[str, Any]],
    topics: dict[tuple[str, str], dict[str, Any]],
) -> list[FaultFound]:
    """Each injected fault beside what the scorecards show of it: the agency scorecards
    (`agencies`, by agency) and the topic scorecards (`topics`, by (agency, topic)) of the
    city's agencies over the replayed period."""
    late = topics.get((f.late_agency, f.late_topic), {}).get("timeliness") or {}
    late_found = {
        k: late.get(k) for k in ("dated", "same_day", "delay_p50_seconds", "delay_p95_seconds")
    }
    bad = topics.get((f.bad_id_agency, f.bad_id_topic), {}).get("validity") or {}
    bad_found = {k: bad.get(k) for k in ("received", "rejected", "rejected_share", "faults")}
    top = (bad.get("faults") or [{}])[0]
    conflicts = {
        "agency": (agencies.get(f.address_agency, {}).get("consistency") or {}).get("conflicts"),
        "topic": (topics.get((f.address_agency, f.address_topic), {}).get("consistency") or {}).get(
            "conflicts"
        ),
    }
    # Nowhere else: no other record rejected or late. (Conflicts are not counted here: the
    # registry also raises those of the city itself, such as a death the health bureau
    # certified that the household register still shows alive.)
    elsewhere = {
        "rejected": sum(
            c["validity"]["rejected"]
            for key, c in topics.items()
            if key != (f.bad_id_agency, f.bad_id_topic)
        ),
        "late": sum(
            c["timeliness"]["dated"] - c["timeliness"]["same_day"]
            for key, c in topics.items()
            if key != (f.late_agency, f.late_topic)
        ),
    }
    return [
        FaultFound(
            fault="late arrivals",
            agency=f.late_agency,
            topic=f.late_topic,
            injected=f"{f.late_records:,} records published {f.late_days} days after their "
            "business date",
            shown=f"delay p50 {_seconds(late_found['delay_p50_seconds'])}, p95 "
            f"{_seconds(late_found['delay_p95_seconds'])} over {_count(late_found['dated'])} "
            f"records, {_count(late_found['same_day'])} on their day",
            expected={
                "dated": f.late_records,
                "same_day": 0,
                "delay_p50_seconds": f.late_delay_seconds,
                "delay_p95_seconds": f.late_delay_seconds,
            },
            found=late_found,
        ),
        FaultFound(
            fault="bad check characters",
            agency=f.bad_id_agency,
            topic=f.bad_id_topic,
            injected=f"{f.bad_id_records:,} extra records with a wrong check character in "
            f"{f.bad_id_item}, of {f.bad_id_received:,} sent ({_pct(f.bad_id_share)})",
            shown=f"{_count(bad_found['rejected'])} rejected of {_count(bad_found['received'])} "
            f"({_pct(bad_found['rejected_share'])}); top fault {top.get('item', '—')} "
            f"({top.get('rule', '—')}) in {_count(top.get('records'))} records",
            expected={
                "received": f.bad_id_received,
                "rejected": f.bad_id_records,
                "rejected_share": f.bad_id_share,
                "faults": [
                    {
                        "topic": f.bad_id_topic,
                        "item": f.bad_id_item,
                        "rule": "format",
                        "records": f.bad_id_records,
                    }
                ]
                if f.bad_id_records
                else [],
            },
            found=bad_found,
        ),
        FaultFound(
            fault="conflicting addresses",
            agency=f.address_agency,
            topic=f.address_topic,
            injected=f"{f.address_conflicts:,} enterprises given another address than "
            "market regulation's",
            shown=f"consistency: {_count(conflicts['agency'])} conflicts as dissenter "
            f"({_count(conflicts['topic'])} from {f.address_topic})",
            expected={"agency": f.address_conflicts, "topic": f.address_conflicts},
            found=conflicts,
        ),
        FaultFound(
            fault="no other rejected or late record",
            agency="every other agency and topic",
            topic=None,
            injected="none",
            shown=f"{elsewhere['rejected']:,} records rejected, {elsewhere['late']:,} after "
            "their day",
            expected={"rejected": 0, "late": 0},
            found=elsewhere,
        ),
    ]


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _seconds(value: int | None) -> str:
    return "—" if value is None else f"{value:,} s"


def score(rule_id: str, found: set[str], expected: set[str]) -> RuleScore:
    return RuleScore(rule_id, len(found), len(expected), len(found & expected))


async def build_report(
    hub: HubClient, city: City, m: Measurements, *, scale: float, seed: int
) -> Report:
    stats = {row["rule_id"]: row for row in await hub.pages("/alerting/v1/stats")}
    scores = []
    for rule_id in list(RULES)[1:]:
        warnings = await hub.pages("/alerting/v1/warnings", rule=rule_id, limit=1000)
        scores.append(
            score(
                rule_id, {w["subject"] for w in warnings}, city.truth.warnings.get(rule_id, set())
            )
        )
    messages = await hub.pages("/sms/v1/messages", template="tax_registration_reminder", limit=500)
    reminded = {
        msg["idempotency_key"].split(":")[1]
        for msg in messages
        if msg["status"] in ("sent", "delivered")
    }
    registered = (
        city.truth.tax_registered_by_end / city.truth.enterprises if city.truth.enterprises else 0.0
    )
    # The city's agencies' scorecards over the replayed period (at most 367 days), and the
    # same per topic, for the faults.
    period = {"from": city.start.isoformat(), "to": city.end.isoformat()}
    ours = set(m.agencies)
    agencies = {
        c["agency"]: c
        for c in await hub.pages("/exchange/v1/scorecards", **period)
        if c["agency"] in ours
    }
    found: list[FaultFound] = []
    if city.faults is not None:
        topics = {
            (c["agency"], c["topic"]): c
            for c in await hub.pages("/exchange/v1/scorecards", by="topic", **period)
            if c["agency"] in ours
        }
        found = faults_found(city.faults, agencies, topics)
    return Report(
        scale=scale,
        days=city.days,
        seed=seed,
        measurements=m,
        stats=stats,
        scores=scores,
        reminders=score("sms_reminder_day_20", reminded, city.truth.reminders),
        enterprises=city.truth.enterprises,
        registration_rate_truth=registered,
        records_truth=city.valid_records(),
        faults_injected=city.faults,
        period=(period["from"], period["to"]),
        scorecards=sorted(agencies.values(), key=_by_grade),
        faults=found,
    )
