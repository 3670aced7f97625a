"""The data-quality scorecards (数据质量评分卡, docs/quality.md) for every role: an operator's
ranking of all agencies for a month, and one agency's scorecard with its topics and its
recent months.

Everything comes from the exchange's `GET /exchange/v1/scorecards` with the person's own
token: an agency's person gets their own agency's scorecards only, and another agency's
answers here as the API answers it (403)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any, Final

from govhub_console.ops.service import Caller, segment
from govhub_console.subscriptions.service import duration
from govhub_console.warnings.service import percent

SCORECARDS: Final = "/exchange/v1/scorecards"
AGENCIES: Final = "/exchange/v1/agencies"
# The API's largest page: a month's scorecards of every agency come in one call.
LARGEST_PAGE: Final = 5000
# Months in an agency's recent grades, the one shown included.
HISTORY_MONTHS: Final = 6

DIMENSIONS: Final = (
    "timeliness",
    "validity",
    "uniqueness",
    "consistency",
    "completeness",
    "responsiveness",
)
# A topic's scorecard has no responsiveness (the agency's own conduct).
TOPIC_DIMENSIONS: Final = DIMENSIONS[:5]
# Words of the dimensions (literal keys, so the catalogs' test sees them used).
DIMENSION_WORDS: Final = {
    "timeliness": "scorecards.timeliness",
    "validity": "scorecards.validity",
    "uniqueness": "scorecards.uniqueness",
    "consistency": "scorecards.consistency",
    "completeness": "scorecards.completeness",
    "responsiveness": "scorecards.responsiveness",
}


def score_text(value: float | None) -> str:
    """A score (0-100) or a grade's change, as the API rounds it: two decimals; no data is a dash."""
    return "—" if value is None else f"{value:.2f}"


# What the templates format figures with: durations as "3 天" / "3 days", shares as %.
FORMATS: Final = {
    "dimensions": DIMENSIONS,
    "topic_dimensions": TOPIC_DIMENSIONS,
    "dimension_words": DIMENSION_WORDS,
    "score": score_text,
    "duration": duration,
    "percent": percent,
}


def shifted(month: str, months: int) -> str:
    """`YYYY-MM` moved by `months` (negative: earlier)."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def previous_month(today: date) -> str:
    """The last month ended on `today`."""
    return shifted(f"{today.year:04d}-{today.month:02d}", -1)


def ranked(cards: list[dict[str, Any]]) -> list[tuple[int | None, dict[str, Any]]]:
    """Best grade first, each with its rank (equal grades share one: 1, 1, 3); agencies
    without a grade last, by code, unranked."""
    ordered = sorted(
        cards,
        key=lambda c: (c["grade"]["score"] is None, -(c["grade"]["score"] or 0.0), c["agency"]),
    )
    ranks: list[int | None] = []
    for index, card in enumerate(ordered):
        score = card["grade"]["score"]
        if score is None:
            ranks.append(None)
        elif index and score == ordered[index - 1]["grade"]["score"]:
            ranks.append(ranks[-1])
        else:
            ranks.append(index + 1)
    return list(zip(ranks, ordered, strict=True))


async def _every(api: Caller, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of an API list, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await api.get(path, **params, limit=LARGEST_PAGE, cursor=cursor)
        items += page["data"]
        cursor = page.get("next")
        if not cursor:
            return items


def _month_of(cards: list[dict[str, Any]], asked: str, today: date) -> str:
    """The month shown: the one asked, else the API's default (the last month ended by the
    exchange's business clock), else the console's."""
    if asked:
        return asked
    for card in cards:
        if card["period"].get("month"):
            return str(card["period"]["month"])
    return previous_month(today)


async def ranking(api: Caller, *, month: str, today: date) -> dict[str, Any]:
    """Every agency's scorecard of the month, ranked (an operator's view)."""
    cards = await _every(api, SCORECARDS, month=month)
    shown = _month_of(cards, month, today)
    names = {a["code"]: a["name"] for a in await _every(api, AGENCIES)}
    rows = [
        {
            **card,
            "rank": rank,
            "name": names.get(card["agency"], ""),
            "href": api.url(f"/scorecards/{segment(card['agency'])}", month=shown),
        }
        for rank, card in ranked(cards)
    ]
    return {
        "month": shown,
        "rows": rows,
        "graded": sum(1 for r in rows if r["grade"]["score"] is not None),
    }


async def agency_scorecard(api: Caller, *, agency: str, month: str, today: date) -> dict[str, Any]:
    """One agency's scorecard of the month, its topics' and its grades of the months
    before. The API has no history: one call per earlier month, side by side."""
    name = ""
    if api.person.role == "operator":  # agencies' names are the operators' to read
        name = (await api.get(f"{AGENCIES}/{segment(agency)}"))["name"]  # 404: no such agency
    cards = await _every(api, SCORECARDS, agency=agency, month=month)
    shown = _month_of(cards, month, today)
    card = cards[0] if cards else None
    topics = await _every(api, SCORECARDS, agency=agency, month=shown, by="topic")
    earlier = [shifted(shown, -back) for back in range(HISTORY_MONTHS - 1, 0, -1)]
    pages = await asyncio.gather(
        *(api.get(SCORECARDS, agency=agency, month=m, limit=1) for m in earlier)
    )
    history = [
        {
            "month": m,
            "grade": page["data"][0]["grade"] if page["data"] else None,
            "href": api.url(f"/scorecards/{segment(agency)}", month=m),
        }
        for m, page in zip(earlier, pages, strict=True)
    ]
    history.append(
        {
            "month": shown,
            "grade": card["grade"] if card else None,
            "href": api.url(f"/scorecards/{segment(agency)}", month=shown),
        }
    )
    return {
        "agency": agency,
        "agency_name": name,
        "month": shown,
        "card": card,
        "topics": sorted(topics, key=lambda c: c["topic"] or ""),
        "history": history,
    }
