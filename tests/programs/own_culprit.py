"""Own code that spends its time in library code: `encode_all` (the planted culprit) is cheap
itself but calls the standard library's json encoder over and over; `tally` is a little own
work. For the HTML report's "your code first" test."""

import json


def encode_all(records):
    out = []
    for _ in range(60):
        out.append(json.dumps(records, sort_keys=True))
    return out


def tally(records):
    total = 0
    for r in records:
        total += r["n"]
    return total


def main():
    records = [{"n": i, "name": f"item {i}", "tags": ["a", "b", str(i)]} for i in range(3000)]
    encode_all(records)
    for _ in range(3):
        tally(records)


if __name__ == "__main__":
    main()
