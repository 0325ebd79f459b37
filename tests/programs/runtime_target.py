"""Targets that live inside the runtime rather than in their own code, for the sampling tests.

    runtime_target.py gc SECONDS      most time in gc.collect() over a big cyclic object graph,
                                      with finalizers (Python code run by the collector)
    runtime_target.py import SECONDS  keeps importing freshly written modules (importlib,
                                      invalidate_caches, a new name each time)

Prints "ready" once the work has started, then works for SECONDS."""

import gc
import importlib
import os
import sys
import tempfile
import time


class Node:
    __slots__ = ("peer", "items", "__weakref__")

    def __init__(self):
        self.peer = None
        self.items = []


class Finalized:
    def __init__(self):
        self.me = self  # a cycle: only the collector frees it

    def __del__(self):
        finalizer_work()


def finalizer_work():
    x = 0
    for i in range(50):
        x += i
    return x


def build_graph(n):
    nodes = [Node() for _ in range(n)]
    for i, node in enumerate(nodes):
        node.peer = nodes[(i * 7919 + 1) % n]
        node.items.append(nodes[i - 1])
    return nodes


def collect_forever(seconds):
    graph = build_graph(300_000)  # kept alive: every full collection walks it
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        for _ in range(200):
            Finalized()
        gc.collect()
        rounds += 1
        if rounds == 1:
            print("ready", flush=True)
    return graph


MODULE = '''
"""Generated module {n}."""
TABLE = [{n} * i for i in range(2000)]


def f{n}(x):
    return x + {n}


def work():
    total = 0
    for i in range(60000):
        total += i % 7
    return total


RESULT = work()
CLASSES = [type("C%d" % i, (), {{"v": i}}) for i in range(40)]
'''


def import_forever(seconds):
    sys.dont_write_bytecode = True
    with tempfile.TemporaryDirectory(prefix="dziura-imports-") as d:
        sys.path.insert(0, d)
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            name = f"generated_mod_{n}"
            with open(os.path.join(d, name + ".py"), "w") as f:
                f.write(MODULE.format(n=n) + "\n".join(f"def g{k}(): return {k}" for k in range(300)))
            importlib.invalidate_caches()
            importlib.import_module(name)
            del sys.modules[name]
            n += 1
            if n == 1:
                print("ready", flush=True)


if __name__ == "__main__":
    mode, seconds = sys.argv[1], float(sys.argv[2])
    if mode == "gc":
        collect_forever(seconds)
    elif mode == "import":
        import_forever(seconds)
