"""Recursion-heavy workload: many tiny Python frames, deep and shallow.

Stresses the per-call cost of a profiler (call and return events dominate) and its
handling of recursive functions (primitive vs total call counts).
"""


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def hanoi(n: int, src: int, dst: int, via: int, moves: list[tuple[int, int]]) -> None:
    if n == 0:
        return
    hanoi(n - 1, src, via, dst, moves)
    moves.append((src, dst))
    hanoi(n - 1, via, dst, src, moves)


def is_even(n: int) -> bool:
    return True if n == 0 else is_odd(n - 1)


def is_odd(n: int) -> bool:
    return False if n == 0 else is_even(n - 1)


def ackermann(m: int, n: int) -> int:
    if m == 0:
        return n + 1
    if n == 0:
        return ackermann(m - 1, 1)
    return ackermann(m - 1, ackermann(m, n - 1))


def tree_sum(depth: int) -> int:
    """Walk a complete binary tree built on the fly (two recursive calls per node)."""
    if depth == 0:
        return 1
    return 1 + tree_sum(depth - 1) + tree_sum(depth - 1)


def run() -> int:
    total = fib(29)
    moves: list[tuple[int, int]] = []
    hanoi(18, 0, 2, 1, moves)
    total += len(moves)
    for _ in range(2):  # stays well below the default recursion limit of 1000
        total += sum(is_even(n) for n in range(0, 800))
    for n in range(100, 150):
        total += ackermann(2, n)
    total += tree_sum(19)
    return total
