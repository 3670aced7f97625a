"""The simulated city is reproducible, its identifiers valid, and its ground truth agrees
with the records it publishes; the data-quality faults it injects are the ones it says, and
change nothing a warning rule reads."""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from govhub_common.city.format import kind_specs
from govhub_common.identifiers import is_valid_mobile, is_valid_ric, is_valid_uscc
from govhub_demo.city import DEADLINE_DAYS, City, simulate
from govhub_demo.city_files import GUANGZHOU, CityFiles
from govhub_demo.report import faults_found


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
    # Only the records sent faulty on purpose carry a wrong check character.
    for records in city.published.values():
        for r in records:
            valid = is_valid_uscc(r.data["uscc"]) if "uscc" in r.data else True
            valid &= is_valid_ric(r.data["id_number"]) if "id_number" in r.data else True
            assert valid != r.invalid, r


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


def rule_reads() -> dict[str, set[str]]:
    """Per topic, the data items Guangzhou's rules read (keys, dates, `same`, reminders)."""
    reads: dict[str, set[str]] = {}

    def walk(node: Any, same: list[str]) -> None:
        if isinstance(node, dict):
            if "topic" in node and "key" in node:
                fields = {node["key"], node.get("date"), *same} - {None}
                reads.setdefault(node["topic"], set()).update(fields)
            for value in node.values():
                walk(value, same)
        elif isinstance(node, list):
            for value in node:
                walk(value, same)

    for _, rule in kind_specs(GUANGZHOU, "AlertRule"):
        walk(rule, rule.get("same", []))
        for reminder in rule.get("reminders", []):
            fields = {v for v in reminder.get("params", {}).values() if not v.startswith("$")}
            fields.add(reminder["recipient"].get("field"))
            reads[rule["trigger"]["topic"]].update(fields - {None})
    return reads


def test_the_faults_change_nothing_a_rule_reads() -> None:
    faulty = simulate(seed=2008, scale=0.02, days=365)
    clean = simulate(seed=2008, scale=0.02, days=365, faults=False)
    assert faulty.faults is not None and clean.faults is None
    assert faulty.truth == clean.truth
    reads = rule_reads()
    assert {"local_tax_registered", "pension_paid"} <= set(reads)

    def seen_by_rules(city: City) -> dict[str, list[tuple[Any, ...]]]:
        """What a rule can see: the accepted records of the topics it reads, on their day,
        with the items it reads."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        for day, records in city.published.items():
            for r in records:
                if r.topic in reads and not r.invalid:
                    items = tuple(sorted((k, r.data.get(k)) for k in reads[r.topic]))
                    out.setdefault(r.topic, []).append((day, r.business_date, r.record_id, items))
        return {topic: sorted(rows) for topic, rows in out.items()}

    assert seen_by_rules(faulty) == seen_by_rules(clean)
    # ... and the late topic is read by no rule.
    assert faulty.faults.late_topic not in reads


def test_the_city_knows_the_faults_it_injected(tmp_path: Path) -> None:
    city = simulate(seed=2008, scale=0.02, days=365)
    clean = simulate(seed=2008, scale=0.02, days=365, faults=False)
    f = city.faults
    assert f is not None
    owners = CityFiles(GUANGZHOU, tmp_path).topic_owners()
    assert owners[f.late_topic] == f.late_agency
    assert owners[f.bad_id_topic] == f.bad_id_agency
    assert owners[f.address_topic] == f.address_agency != owners["enterprise_registered"]

    # Late arrivals: every record of the topic published three days after its business date.
    late = [
        (day, r.business_date)
        for day, records in city.published.items()
        for r in records
        if r.topic == f.late_topic
    ]
    assert len(late) == f.late_records > 100
    assert all(when == city.start + timedelta(days=day - 3) for day, when in late)
    assert f.late_delay_seconds == 259_200

    # Bad check characters: besides every real record, about one in twenty sent is bad.
    def sent(c: City, invalid: bool) -> int:
        return sum(
            1
            for rs in c.published.values()
            for r in rs
            if (r.topic, r.invalid) == (f.bad_id_topic, invalid)
        )

    assert sent(city, True) == f.bad_id_records > 0
    assert sent(city, False) == sent(clean, False)
    assert f.bad_id_received == sent(city, False) + f.bad_id_records
    assert abs(f.bad_id_records / f.bad_id_received - 0.05) < 0.005
    assert city.valid_records() == city.records() - f.bad_id_records

    # Conflicting addresses: local tax states another address than the licence's.
    licences = {
        r.data["uscc"]: r.data["address"]
        for records in city.published.values()
        for r in records
        if r.topic == "enterprise_registered"
    }
    stated = [
        r.data["address"] != licences[r.data["uscc"]]
        for records in city.published.values()
        for r in records
        if r.topic == f.address_topic
    ]
    assert sum(stated) == f.address_conflicts > 0
    # ... which the registry maps to the legal entity's address, below market regulation.
    mappings = {spec["topic"]: spec for _, spec in kind_specs(GUANGZHOU, "RegistryMapping")}
    dissenting = mappings[f.address_topic]["attributes"]["address"]
    authority = mappings["enterprise_registered"]["attributes"]["address"]
    assert dissenting["field"] == "address" and dissenting["rank"] > authority["rank"]


def scorecards_showing(city: City) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """The agency and topic scorecards a perfect exchange shows for the city's faults."""
    f = city.faults
    assert f is not None

    def card(agency: str, topic: str | None = None) -> dict[str, Any]:
        return {
            "agency": agency,
            "topic": topic,
            "timeliness": {"dated": 10, "same_day": 10, "delay_p50_seconds": 7200,
                           "delay_p95_seconds": 7200},
            "validity": {"received": 10, "rejected": 0, "rejected_share": 0.0, "faults": []},
            "consistency": {"conflicts": 0},
        }  # fmt: skip

    late, bad = card(f.late_agency, f.late_topic), card(f.bad_id_agency, f.bad_id_topic)
    late["timeliness"] = {
        "dated": f.late_records, "same_day": 0,
        "delay_p50_seconds": 259_200, "delay_p95_seconds": 259_200,
    }  # fmt: skip
    bad["validity"] = {
        "received": f.bad_id_received,
        "rejected": f.bad_id_records,
        "rejected_share": f.bad_id_share,
        "faults": [
            {"topic": f.bad_id_topic, "item": "id_number", "rule": "format",
             "records": f.bad_id_records},
        ],
    }  # fmt: skip
    address = card(f.address_agency, f.address_topic)
    address["consistency"] = {"conflicts": f.address_conflicts}
    agencies = {a: card(a) for a in ("gz-amr", f.late_agency, f.bad_id_agency)}
    agencies[f.address_agency] = {
        **card(f.address_agency),
        **{"consistency": address["consistency"]},
    }
    topics = {(c["agency"], c["topic"]): c for c in (late, bad, address, card("gz-amr", "x"))}
    return agencies, topics


def test_a_fault_is_found_only_when_every_figure_matches() -> None:
    city = simulate(seed=2008, scale=0.02, days=120)
    assert city.faults is not None
    agencies, topics = scorecards_showing(city)
    assert [f.exact for f in faults_found(city.faults, agencies, topics)] == [True] * 4

    # A record on its day, another rule broken, a conflict more, a rejection elsewhere: each
    # is named.
    late = topics[city.faults.late_agency, city.faults.late_topic]["timeliness"]
    late["same_day"] = 1
    validity = topics[city.faults.bad_id_agency, city.faults.bad_id_topic]["validity"]
    validity["faults"][0]["rule"] = "pattern"
    agencies[city.faults.address_agency]["consistency"]["conflicts"] += 1
    topics["gz-amr", "x"]["validity"]["rejected"] = 1
    found = faults_found(city.faults, agencies, topics)
    assert [f.exact for f in found] == [False] * 4
    assert [f.fault for f in found] == [
        "late arrivals",
        "bad check characters",
        "conflicting addresses",
        "no other rejected or late record",
    ]
