"""A target for the viewer tests (tests/test_viewers.py), with function names easy to find in
speedscope and Perfetto.

    viewer_target.py spin SECONDS   busy for SECONDS in two threads (for sampling):
                                    MainThread: alpha_outer -> beta_middle -> gamma_leaf
                                    viewer-worker: omega_worker -> gamma_leaf
    viewer_target.py calls          a few deterministic nested calls in two threads (for tracing):
                                    MainThread: zeta_recurse 4 deep -> epsilon_sum ->
                                    delta_square x 3
                                    viewer-worker: epsilon_sum -> delta_square x 4
"""

import sys
import threading
import time


def gamma_leaf(until):
    x = 0
    while time.perf_counter() < until:
        x += 1
    return x


def beta_middle(until):
    return gamma_leaf(until)


def alpha_outer(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        beta_middle(min(end, time.perf_counter() + 0.01))


def omega_worker(seconds):
    gamma_leaf(time.perf_counter() + seconds)


def delta_square(n):
    return n * n


def epsilon_sum(n):
    total = 0
    for i in range(n):
        total += delta_square(i)
    return total


def zeta_recurse(n):
    if n == 0:
        return epsilon_sum(3)
    return zeta_recurse(n - 1) + 1


def spin(seconds):
    t = threading.Thread(target=omega_worker, args=(seconds,), name="viewer-worker")
    t.start()
    alpha_outer(seconds)
    t.join()


def calls():
    zeta_recurse(3)
    t = threading.Thread(target=epsilon_sum, args=(4,), name="viewer-worker")
    t.start()
    t.join()


if __name__ == "__main__":
    if sys.argv[1] == "spin":
        spin(float(sys.argv[2]))
    else:
        calls()
