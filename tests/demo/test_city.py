"""The simulated city is reproducible, its identifiers valid, and its ground truth agrees
with the records it publishes."""

from datetime import date, timedelta

from govhub_common.identifiers import is_valid_mobile, is_valid_ric, is_valid_uscc
from govhub_demo.city import DEADLINE_DAYS, City, simulate


def records_by_topic(city: City) -> dict[str, list[tuple[int, dict]]]:
    out: dict[str, list[tuple[int, dict]]] = {}
    for day, records in city.published.items():
        for record in records:
            out.setdefault(record.topic, []).append((day, record.data))
    return out


def test_the_same_seed_gives_the_same_city() -> None:
    one = simulate(seed=11, scale=0.01, days=120)
    two = simulate(seed=11, scale=0.01, days=120)
    assert one.published == two.published
    assert one.truth == two.truth
    assert simulate(seed=12, scale=0.01, days=120).published != one.published


def test_identifiers_are_valid() -> None:
    city = simulate(seed=3, scale=0.01, days=120)
    topics = records_by_topic(city)
    for _, data in topics["enterprise_registered"]:
        assert is_valid_uscc(data["uscc"])
        assert is_valid_ric(data["legal_rep_id"])
        assert is_valid_mobile(data["mobile"])
    for _, data in topics["person_registered"]:
        assert is_valid_ric(data["id_number"])


def test_warned_enterprises_had_no_tax_registration_by_the_deadline() -> None:
    city = simulate(seed=5, scale=0.02, days=200)
    topics = records_by_topic(city)
    licensed = {
        d["uscc"]: date.fromisoformat(d["established_date"])
        for _, d in topics["enterprise_registered"]
    }
    registered: dict[str, date] = {}
    for topic in ("local_tax_registered", "national_tax_registered"):
        for _, d in topics.get(topic, []):
            day = date.fromisoformat(d["registered_date"])
            registered[d["uscc"]] = min(day, registered.get(d["uscc"], day))
    warned = city.truth.warnings["tax_registration_missing"]
    assert warned, "a 200-day city has late registrants"
    for code, day in licensed.items():
        deadline = day + timedelta(days=DEADLINE_DAYS)
        late = code not in registered or registered[code] > deadline
        assert (code in warned) == (late and deadline < city.end), code
    assert city.truth.complied_late <= warned
