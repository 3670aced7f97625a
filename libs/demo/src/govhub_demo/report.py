"""The report: the hub's own figures beside the founding document's and the ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govhub_demo.city import City
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

    @property
    def within_one_minute(self) -> float:
        lat = self.measurements.delivery_latencies
        return sum(1 for x in lat if x <= 60) / len(lat) if lat else 0.0

    @property
    def all_exact(self) -> bool:
        return all(s.precision == 1.0 and s.recall == 1.0 for s in [*self.scores, self.reminders])

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
            f"| records exchanged | {m.records_accepted:,} | {m.records_published:,} | 400 million (cumulative) |",
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
            if self.all_exact
            else "**Precision or recall below 100%: see the rows above.**",
            "",
        ]
        return "\n".join(lines)

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
            "all_exact": self.all_exact,
        }

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
    )
