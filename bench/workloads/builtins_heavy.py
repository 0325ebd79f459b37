"""Builtin-heavy workload: tight loops over C functions and C methods.

Almost every call is a builtin (``len``, ``abs``, ``min``, ``max``, ``isinstance``,
``list.append``, ``dict.get``, ``str.split``/``join``/``upper``/``startswith``...), so
the cost of reporting C calls (cProfile's ``{built-in method ...}`` entries) dominates.
"""

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
    "nu xi omicron pi rho sigma tau upsilon phi chi psi omega"
).split()


def numeric_loop(n: int) -> int:
    out: list[int] = []
    total = 0
    for i in range(n):
        v = abs(i - n // 2)
        total += min(v, 1000) + max(v % 7, 3)
        out.append(v)
        if len(out) > 64:
            out.clear()
    return total + len(out)


def dict_loop(n: int) -> int:
    counts: dict[str, int] = {}
    hits = 0
    for i in range(n):
        word = WORDS[i % len(WORDS)]
        counts[word] = counts.get(word, 0) + 1
        if isinstance(counts.get(word), int):
            hits += 1
        counts.setdefault(word[:2], i)
    return hits + sum(counts.values())


def string_loop(n: int) -> int:
    total = 0
    parts: list[str] = []
    for i in range(n):
        word = WORDS[i % len(WORDS)]
        upper = word.upper()
        if upper.startswith("P") or word.endswith("a"):
            total += 1
        parts.append(upper.lower().replace("a", "4"))
        if len(parts) == 16:
            line = ",".join(parts)
            total += len(line.split(",")) + line.find("4") + line.count("e")
            parts.clear()
    return total


def run() -> int:
    return numeric_loop(400_000) + dict_loop(400_000) + string_loop(350_000)
