"""Method/OOP-heavy workload: small objects, __init__, methods, properties, inheritance.

Most calls are short Python methods, many reached through ``super()``, properties,
dunder methods (``__add__``, ``__eq__``, ``__hash__``, ``__lt__``) and class
construction, which is where a profiler's per-call bookkeeping shows up most.
"""

from __future__ import annotations

import math


class Vector:
    __slots__ = ("x", "y")

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def __add__(self, other: Vector) -> Vector:
        return Vector(self.x + other.x, self.y + other.y)

    def __sub__(self, other: Vector) -> Vector:
        return Vector(self.x - other.x, self.y - other.y)

    def scale(self, k: float) -> Vector:
        return Vector(self.x * k, self.y * k)

    def dot(self, other: Vector) -> float:
        return self.x * other.x + self.y * other.y

    @property
    def norm(self) -> float:
        return math.sqrt(self.dot(self))


class Shape:
    count = 0

    def __init__(self, name: str, origin: Vector) -> None:
        self.name = name
        self.origin = origin
        Shape.count += 1

    def area(self) -> float:
        raise NotImplementedError

    def perimeter(self) -> float:
        raise NotImplementedError

    def describe(self) -> tuple[str, float, float]:
        return (self.name, self.area(), self.perimeter())

    def moved(self, delta: Vector) -> Shape:
        clone = self.copy()
        clone.origin = self.origin + delta
        return clone

    def copy(self) -> Shape:
        raise NotImplementedError

    def __lt__(self, other: Shape) -> bool:
        return self.area() < other.area()


class Rectangle(Shape):
    def __init__(self, origin: Vector, w: float, h: float) -> None:
        super().__init__("rectangle", origin)
        self._w = w
        self._h = h

    @property
    def width(self) -> float:
        return self._w

    @property
    def height(self) -> float:
        return self._h

    def area(self) -> float:
        return self.width * self.height

    def perimeter(self) -> float:
        return 2 * (self.width + self.height)

    def copy(self) -> Rectangle:
        return Rectangle(self.origin, self._w, self._h)


class Square(Rectangle):
    def __init__(self, origin: Vector, side: float) -> None:
        super().__init__(origin, side, side)
        self.name = "square"

    def copy(self) -> Square:
        return Square(self.origin, self._w)


class Circle(Shape):
    def __init__(self, origin: Vector, r: float) -> None:
        super().__init__("circle", origin)
        self.r = r

    def area(self) -> float:
        return math.pi * self.r * self.r

    def perimeter(self) -> float:
        return 2 * math.pi * self.r

    def copy(self) -> Circle:
        return Circle(self.origin, self.r)


class Account:
    """A tiny state machine with validation, properties and equality."""

    def __init__(self, owner: str, balance: int = 0) -> None:
        self.owner = owner
        self._balance = balance
        self.history: list[int] = []

    @property
    def balance(self) -> int:
        return self._balance

    @balance.setter
    def balance(self, value: int) -> None:
        if value < 0:
            raise ValueError("overdrawn")
        self._balance = value

    def deposit(self, amount: int) -> None:
        self.balance = self.balance + amount
        self.history.append(amount)

    def withdraw(self, amount: int) -> bool:
        try:
            self.balance = self.balance - amount
        except ValueError:
            return False
        self.history.append(-amount)
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Account) and self.owner == other.owner

    def __hash__(self) -> int:
        return hash(self.owner)


def make_shape(i: int) -> Shape:
    origin = Vector(i % 17, i % 23)
    kind = i % 3
    if kind == 0:
        return Rectangle(origin, 1 + i % 7, 1 + i % 5)
    if kind == 1:
        return Square(origin, 1 + i % 9)
    return Circle(origin, 1 + i % 4)


def shapes_round(n: int) -> float:
    shapes = [make_shape(i) for i in range(n)]
    step = Vector(0.5, -0.25)
    moved = [s.moved(step) for s in shapes]
    moved.sort()
    total = 0.0
    for s in moved:
        _, area, perimeter = s.describe()
        total += area + perimeter + s.origin.norm
    return total


def vectors_round(n: int) -> float:
    acc = Vector(0.0, 0.0)
    for i in range(n):
        v = Vector(i % 13, i % 7)
        acc = acc + v.scale(0.5) - Vector(1.0, 1.0)
    return acc.norm


def accounts_round(n: int) -> int:
    accounts = {Account(f"user{i % 50}") for i in range(200)}
    ordered = sorted(accounts, key=lambda a: a.owner)
    ok = 0
    for i in range(n):
        acct = ordered[i % len(ordered)]
        if i % 3:
            acct.deposit(i % 11)
        elif acct.withdraw(i % 13):
            ok += 1
    return ok + sum(a.balance for a in ordered)


def run() -> float:
    total = 0.0
    for _ in range(6):
        total += shapes_round(6000)
    total += vectors_round(100000)
    total += accounts_round(150000)
    return round(total, 6)
