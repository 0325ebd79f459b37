"""Deterministic code covering every kind of call the tracer must count exactly like cProfile."""

import asyncio
import functools


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def countdown(n):
    while n:
        yield n
        n -= 1


def delegate():
    yield from countdown(3)
    yield from (x * 2 for x in range(2))


def raises(n):
    raise ValueError(n)


def catches():
    caught = 0
    for i in range(5):
        try:
            raises(i)
        except ValueError:
            caught += 1
    try:
        int("not a number")
    except ValueError:
        caught += 1
    return caught


class Shape:
    count = 0

    def __init__(self, side):
        self.side = side
        Shape.count += 1

    @property
    def area(self):
        return self.side * self.side

    @classmethod
    def unit(cls):
        return cls(1)

    @staticmethod
    def describe(x):
        return f"shape {x}"


class Square(Shape):
    def __init__(self, side):
        super().__init__(side)


@functools.lru_cache(maxsize=None)
def cached(n):
    return n * 2


def logged(f):
    @functools.wraps(f)
    def wrapper(*a, **k):
        return f(*a, **k)

    return wrapper


@logged
def add(a, b):
    return a + b


async def tick(i):
    await asyncio.sleep(0)
    return i


async def gather_ticks():
    return await asyncio.gather(*(tick(i) for i in range(3)))


def builtin_calls():
    items = []
    for i in range(10):
        items.append(abs(-i))
    total = sum(items) + len(items) + max(items)
    d = {"a": 1}
    d.get("a")
    d.get("b", 2)
    " x ".strip().upper()
    sorted(items, key=lambda v: -v)
    [i * i for i in range(3)]
    {i: i for i in range(3)}
    return total


def main():
    fib(12)
    is_even(20)
    list(countdown(4))
    list(delegate())
    catches()
    shapes = [Square(i) for i in range(4)] + [Shape.unit()]
    sum(s.area for s in shapes)
    Shape.describe(1)
    for i in range(6):
        cached(i % 3)
    add(1, 2)
    functools.partial(add, 1)(2)
    builtin_calls()
    g = countdown(5)
    next(g)
    g.close()
    try:
        g2 = countdown(2)
        next(g2)
        g2.throw(KeyError("x"))
    except KeyError:
        pass


def main_async():
    asyncio.run(gather_ticks())
