"""A target for dump --locals: arguments and locals of several types, then it waits."""
import time


def work(n, label, ratio=0.5, flag=True, nothing=None, big=2**100, neg=-7, obj=object(), *rest, **options):
    text = "héllo ✓"
    items = [-1234, 5678]
    letters = ("a", "b", "c")
    one = (1,)
    mapping = {"a": False, "b": (1, 2, 3)}
    many = list(range(100))
    nested = [[1, [2, [3, [4, [5]]]]]]
    huge = 2**200
    numbers = {1, 2, 3}
    numbers.discard(2)
    frozen = frozenset([7])
    nothing_in = set()
    lots = set(range(100))
    print("ready", flush=True)
    while True:
        time.sleep(0.1)


work(42, "job")
