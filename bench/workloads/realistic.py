"""A realistic mix: build records, JSON round-trips, regex parsing, SQLite, sorting, formatting.

Resembles a small ETL/report job: Python glue code calling into C-heavy stdlib
modules (``json``, ``re``, ``sqlite3``), so a good share of the time is spent inside
C code where a profiler only pays per call, not per line of Python.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass

CITIES = ("Warsaw", "Krakow", "Gdansk", "Poznan", "Wroclaw", "Lodz", "Lublin", "Szczecin")
LOG_RE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<level>[A-Z]+) user=(?P<user>\w+) ms=(?P<ms>\d+)")
WORD_RE = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Record:
    id: int
    name: str
    city: str
    score: float
    tags: tuple[str, ...]


def make_records(n: int) -> list[Record]:
    return [
        Record(
            id=i,
            name=f"user{i * 7919 % 10007:05d}",
            city=CITIES[i * 31 % len(CITIES)],
            score=round((i * 2654435761 % 1000) / 10.0, 1),
            tags=tuple(f"t{(i + k) % 13}" for k in range(i % 4)),
        )
        for i in range(n)
    ]


def json_round(records: list[Record]) -> int:
    payload = json.dumps([r.__dict__ for r in records], sort_keys=True)
    loaded = json.loads(payload)
    return len(payload) + sum(len(item["tags"]) for item in loaded)


def log_lines(n: int) -> list[str]:
    levels = ("INFO", "WARN", "ERROR", "DEBUG")
    return [
        f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} {levels[i % 4]} user=user{i % 97} ms={i * 37 % 900} "
        f"message with some words number {i}"
        for i in range(n)
    ]


def regex_round(lines: list[str]) -> int:
    slow = 0
    words = 0
    for line in lines:
        m = LOG_RE.match(line)
        if m is None:
            continue
        if m.group("level") in ("WARN", "ERROR") and int(m.group("ms")) > 500:
            slow += 1
        words += len(WORD_RE.findall(line))
    return slow * 1000 + words


def sqlite_round(records: list[Record]) -> int:
    con = sqlite3.connect(":memory:")
    try:
        con.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL)")
        con.execute("CREATE INDEX people_city ON people (city)")
        for r in records:
            con.execute(
                "INSERT INTO people (id, name, city, score) VALUES (?, ?, ?, ?)",
                (r.id, r.name, r.city, r.score),
            )
        con.commit()
        total = 0
        for city in CITIES:
            row = con.execute(
                "SELECT COUNT(*), AVG(score), MAX(score) FROM people WHERE city = ?", (city,)
            ).fetchone()
            total += row[0] + int(row[1]) + int(row[2])
        for (name,) in con.execute(
            "SELECT name FROM people WHERE score > ? ORDER BY score DESC, id LIMIT 200", (90.0,)
        ):
            total += len(name)
        return total
    finally:
        con.close()


def sort_round(records: list[Record]) -> int:
    by_score = sorted(records, key=lambda r: (-r.score, r.name))
    by_city = sorted(records, key=lambda r: (r.city, len(r.tags), r.id))
    by_name = sorted(records, key=lambda r: r.name.lower())
    return by_score[0].id + by_city[-1].id + by_name[len(by_name) // 2].id


def report(records: list[Record]) -> int:
    stats: dict[str, list[float]] = {}
    for r in records:
        stats.setdefault(r.city, []).append(r.score)
    lines = ["{:<10} {:>6} {:>8}".format("city", "n", "mean")]
    for city, scores in sorted(stats.items()):
        lines.append(f"{city:<10} {len(scores):>6d} {sum(scores) / len(scores):>8.2f}")
    lines.extend("%-12s %5.1f %s" % (r.name, r.score, ",".join(r.tags)) for r in records)
    return len("\n".join(lines))


def run() -> int:
    records = make_records(28_000)
    total = json_round(records)
    total += regex_round(log_lines(35_000))
    total += sqlite_round(records)
    total += sort_round(records)
    total += report(records)
    return total
