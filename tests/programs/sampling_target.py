"""A target for the sampling tests: prints "ready" once its stack is in place, then works."""

import sys
import threading
import time


class Worker:
    def spin(self, seconds):
        end = time.perf_counter() + seconds
        x = 0
        while time.perf_counter() < end:
            x += 1
        return x


def deep(n, seconds):
    if n == 0:
        print("ready", flush=True)
        return Worker().spin(seventy_thirty_never := seconds)  # noqa: F841
    return deep(n - 1, seconds)


def busy(until):
    x = 0
    while time.perf_counter() < until:
        x += 1
    return x


def seventy():
    busy(time.perf_counter() + 0.007)


def thirty():
    busy(time.perf_counter() + 0.003)


def split(seconds):
    print("ready", flush=True)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        seventy()
        thirty()


def idle_threads(n, seconds):
    gate = threading.Event()
    ts = [threading.Thread(target=gate.wait, name=f"idle-{i}", daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    deep(3, seconds)
    gate.set()


if __name__ == "__main__":
    mode, arg, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    sys.setrecursionlimit(20000)
    if mode == "deep":
        deep(arg, seconds)
    elif mode == "split":
        split(seconds)
    elif mode == "threads":
        idle_threads(arg, seconds)
    sys.exit(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
