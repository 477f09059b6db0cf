"""The demo school's exams: an arithmetic bank, a timed CBT form and a CAT pool.

The bank is sized for the CAT exam's settings: at least eight times its longest test (the
rule of thumb for adaptive pools in Stocking, 1994, ETS RR-94-5, which asks for six to eight),
so exposure control has good items left for every student of a class.
"""

from __future__ import annotations

import random
from typing import Any
from uuid import UUID

from hub.db import Connection
from hub.exams import bank

_AREAS = ("덧셈 (addition)", "곱셈 (multiplication)")
_BANK_SIZE = 200
CAT_SETTINGS = {"se_stop": 0.4, "max_items": 20, "min_items": 5, "top_k": 3, "r_max": 0.5}


def _demo_items() -> list[dict[str, Any]]:
    """Arithmetic items whose difficulty grows with the size of the numbers: b from -2 to 2."""
    rng = random.Random(20261201)  # noqa: S311 - demo content, not security
    items = []
    for k in range(_BANK_SIZE):
        level = k / (_BANK_SIZE - 1)
        area = _AREAS[k % 2]
        x, y = rng.randint(2, 5 + int(60 * level)), rng.randint(2, 5 + int(30 * level))
        result = x + y if k % 2 == 0 else x * y
        sign = "+" if k % 2 == 0 else "×"
        choices = sorted({result, result + 1, result - 1, result + 10})
        items.append(
            {
                "stem": f"{x} {sign} {y} = ?",
                "choices": [str(c) for c in choices],
                "answer": choices.index(result),
                "area": area,
                "a": round(0.8 + 0.8 * rng.random(), 2),
                "b": round(-2.0 + 4.0 * level, 2),
                "c": 0.2,
            }
        )
    return items


async def seed_demo_exams(
    conn: Connection, org_id: UUID, zone_id: UUID, teacher_id: UUID, class_id: UUID
) -> None:
    item_ids = []
    for item in _demo_items():
        item_id = await conn.fetchval(
            """INSERT INTO items (zone_id, org_id, created_by, stem, choices, answer,
                                  content_area, a, b, c)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
            zone_id,
            org_id,
            teacher_id,
            item["stem"],
            item["choices"],
            item["answer"],
            item["area"],
            item["a"],
            item["b"],
            item["c"],
        )
        await bank.record_version(
            conn, item_id, item["a"], item["b"], item["c"], source="author", status="current"
        )
        item_ids.append(item_id)
    exams = [
        ("수학 단원평가 (CBT, 10분)", "cbt", 600, item_ids[::20], {}),
        (
            "적응형 수학 진단 (CAT)",
            "cat",
            1800,
            item_ids,
            CAT_SETTINGS,
        ),
    ]
    for title, mode, limit, form, settings in exams:
        exam_id = await conn.fetchval(
            """INSERT INTO exams (zone_id, org_id, class_id, created_by, title, mode, time_limit_s,
                                  max_attempts, settings, item_count)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 3, $8, $9) RETURNING id""",
            zone_id,
            org_id,
            class_id,
            teacher_id,
            title,
            mode,
            limit,
            settings,
            len(form),
        )
        await conn.executemany(
            """INSERT INTO exam_items (exam_id, item_id, position, zone_id, org_id)
               VALUES ($1, $2, $3, $4, $5)""",
            [(exam_id, item, i, zone_id, org_id) for i, item in enumerate(form)],
        )
