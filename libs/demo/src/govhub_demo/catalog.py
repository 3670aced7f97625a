"""The demo city's agencies, topics and subscriptions (docs/contracts.md)."""

from __future__ import annotations

from typing import Any

AGENCIES: dict[str, str] = {
    "gz-amr": "广州市工商行政管理局",
    "gz-qts": "广州市质量技术监督局",
    "gz-ltax": "广州市地方税务局",
    "gz-ntax": "广州市国家税务局",
    "gz-psb": "广州市公安局",
    "gz-health": "广州市卫生局",
    "gz-hrss": "广州市人力资源和社会保障局",
    "gz-civil": "广州市民政局",
    "gz-union": "广州市总工会",
    "gz-redcross": "广州市红十字会",
}

AGENCY_SCOPES = [
    "exchange:publish",
    "exchange:subscribe",
    "exchange:catalog",
    "registry:read",
    "alerting:read",
    "alerting:work",
    "sms:send",
]


def _item(
    title: str,
    kind: str = "string",
    fmt: str | None = None,
    *,
    personal: bool = False,
    sensitivity: str = "internal",
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": kind,
        "title": title,
        "x-sensitivity": sensitivity,
        "x-personal": personal,
    }
    if fmt:
        schema["format"] = fmt
    return schema


USCC = _item("统一社会信用代码", fmt="cn-uscc")
DATE = "date"


def _schema(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _enterprise_registered() -> dict[str, Any]:
    return _schema(
        {
            "uscc": USCC,
            "name": _item("企业名称", sensitivity="public"),
            "legal_rep_id": _item(
                "法定代表人身份证号", fmt="cn-ric", personal=True, sensitivity="sensitive"
            ),
            "legal_rep_name": _item("法定代表人姓名", personal=True),
            "address": _item("住所"),
            "district": _item("所属区"),
            "industry": _item("行业代码"),
            "registered_capital": _item("注册资本", "number"),
            "established_date": _item("成立日期", fmt=DATE),
            "mobile": _item("联系电话", fmt="cn-mobile", personal=True, sensitivity="sensitive"),
        },
        [
            "uscc",
            "name",
            "legal_rep_id",
            "legal_rep_name",
            "address",
            "district",
            "established_date",
        ],
    )


def _tax(date_field: str, title: str) -> dict[str, Any]:
    props = {"uscc": USCC, date_field: _item(title, fmt=DATE)}
    required = ["uscc", date_field]
    if date_field == "registered_date":
        props["tax_no"] = _item("税务登记号")
        required.append("tax_no")
    return _schema(props, required)


def _death() -> dict[str, Any]:
    return _schema(
        {
            "id_number": _item("身份证号", fmt="cn-ric", personal=True, sensitivity="sensitive"),
            "name": _item("姓名", personal=True),
            "death_date": _item("死亡日期", fmt=DATE, personal=True),
        },
        ["id_number", "name", "death_date"],
    )


def _relief() -> dict[str, Any]:
    return _schema(
        {
            "household_id": _item("户号", personal=True),
            "id_number": _item(
                "户主身份证号", fmt="cn-ric", personal=True, sensitivity="sensitive"
            ),
            "item": _item("救助物品"),
            "quantity": _item("数量", "integer"),
            "given_date": _item("发放日期", fmt=DATE),
        },
        ["household_id", "id_number", "item", "quantity", "given_date"],
    )


# code -> (owner, Chinese title, sharing type, schema)
TOPICS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "enterprise_registered": ("gz-amr", "企业开业登记", "conditional", _enterprise_registered()),
    "enterprise_deregistered": (
        "gz-amr",
        "企业注销登记",
        "unconditional",
        _schema(
            {
                "uscc": USCC,
                "deregistered_date": _item("注销日期", fmt=DATE),
                "reason": _item("注销原因"),
            },
            ["uscc", "deregistered_date"],
        ),
    ),
    "quality_code_assigned": (
        "gz-qts",
        "组织机构代码登记",
        "unconditional",
        _schema(
            {
                "uscc": USCC,
                "org_code": _item("组织机构代码"),
                "assigned_date": _item("赋码日期", fmt=DATE),
            },
            ["uscc", "org_code", "assigned_date"],
        ),
    ),
    "local_tax_registered": (
        "gz-ltax",
        "地税税务登记",
        "unconditional",
        _tax("registered_date", "登记日期"),
    ),
    "national_tax_registered": (
        "gz-ntax",
        "国税税务登记",
        "unconditional",
        _tax("registered_date", "登记日期"),
    ),
    "local_tax_deregistered": (
        "gz-ltax",
        "地税注销登记",
        "unconditional",
        _tax("deregistered_date", "注销日期"),
    ),
    "national_tax_deregistered": (
        "gz-ntax",
        "国税注销登记",
        "unconditional",
        _tax("deregistered_date", "注销日期"),
    ),
    "person_registered": (
        "gz-psb",
        "户籍登记",
        "conditional",
        _schema(
            {
                "id_number": _item(
                    "身份证号", fmt="cn-ric", personal=True, sensitivity="sensitive"
                ),
                "name": _item("姓名", personal=True),
                "sex": _item("性别", personal=True),
                "birth_date": _item("出生日期", fmt=DATE, personal=True),
                "household_id": _item("户号", personal=True),
                "address": _item("户籍地址", personal=True),
                "district": _item("所属区"),
                "mobile": _item(
                    "手机号码", fmt="cn-mobile", personal=True, sensitivity="sensitive"
                ),
            },
            ["id_number", "name", "sex", "birth_date", "household_id", "address"],
        ),
    ),
    "person_died": ("gz-psb", "死亡登记", "conditional", _death()),
    "death_certified": ("gz-health", "死亡医学证明", "conditional", _death()),
    "pension_paid": (
        "gz-hrss",
        "养老金发放",
        "conditional",
        _schema(
            {
                "id_number": _item(
                    "身份证号", fmt="cn-ric", personal=True, sensitivity="sensitive"
                ),
                "name": _item("姓名", personal=True),
                "amount": _item("金额", "number"),
                "paid_date": _item("发放日期", fmt=DATE),
                "period": _item("所属期"),
            },
            ["id_number", "name", "amount", "paid_date", "period"],
        ),
    ),
    "civil_relief_given": ("gz-civil", "民政救助发放", "conditional", _relief()),
    "union_relief_given": ("gz-union", "工会帮扶发放", "conditional", _relief()),
    "redcross_relief_given": ("gz-redcross", "红十字会救助发放", "conditional", _relief()),
}

# What the tax offices need of a new enterprise, and what relief and death records hold.
TAX_ITEMS = [
    "uscc",
    "name",
    "legal_rep_id",
    "legal_rep_name",
    "address",
    "district",
    "industry",
    "registered_capital",
    "established_date",
]
RELIEF_ITEMS = ["household_id", "id_number", "item", "quantity", "given_date"]
DEATH_ITEMS = ["id_number", "name", "death_date"]

# The founding document's flow: new enterprises to quality supervision, local and national
# tax (each with only the items it needs); deaths to social security; relief to civil affairs.
SUBSCRIPTIONS: list[tuple[str, str, str, list[str]]] = [
    (
        "gz-qts",
        "enterprise_registered",
        "组织机构代码赋码",
        ["uscc", "name", "legal_rep_name", "address", "district", "industry", "established_date"],
    ),
    ("gz-ltax", "enterprise_registered", "地税税务登记比对", TAX_ITEMS),
    ("gz-ntax", "enterprise_registered", "国税税务登记比对", TAX_ITEMS),
    ("gz-ltax", "enterprise_deregistered", "税务注销比对", ["uscc", "deregistered_date"]),
    ("gz-ntax", "enterprise_deregistered", "税务注销比对", ["uscc", "deregistered_date"]),
    ("gz-hrss", "person_died", "停发养老金", DEATH_ITEMS),
    ("gz-hrss", "death_certified", "停发养老金", DEATH_ITEMS),
    ("gz-civil", "union_relief_given", "救助信息共享", RELIEF_ITEMS),
    ("gz-civil", "redcross_relief_given", "救助信息共享", RELIEF_ITEMS),
]

# Subscriptions whose delivery the report measures (the flagship flow).
MEASURED_TOPIC = "enterprise_registered"
