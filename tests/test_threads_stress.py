"""Many threads at once, each making new functions while traced: counts stay exact. On a
free-threaded build (3.13t) the threads really run in parallel and race to register code."""

import sys
import threading

import dziura


def test_parallel_threads_register_and_count_exactly():
    n_threads, n_funcs, calls = 8, 40, 50
    barrier = threading.Barrier(n_threads)

    def worker(k):
        ns = {}
        # Fresh code objects per thread, all first seen while tracing, at the same moment.
        exec("\n".join(f"def f{i}(x):\n    return x + {i}" for i in range(n_funcs)), ns)
        barrier.wait()
        total = 0
        for i in range(n_funcs):
            f = ns[f"f{i}"]
            for j in range(calls):
                total += f(j)
        return total

    results = []
    pr = dziura.Profile()
    pr.enable()
    threads = [threading.Thread(target=lambda k=k: results.append(worker(k)), name=f"w{k}") for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pr.disable()
    pr.create_stats()
    expected = sum(j + i for i in range(n_funcs) for j in range(calls))
    assert results == [expected] * n_threads
    for i in range(n_funcs):
        # Each thread's f{i} is its own code object on the same (file, line, name): summed.
        row = [v for (file, line, name), v in pr.stats.items() if name == f"f{i}"]
        assert sum(v[1] for v in row) == n_threads * calls, (i, row)
    worker_rows = [v for (f, l, name), v in pr.stats.items() if name == "worker"]
    assert worker_rows[0][:2] == (n_threads, n_threads)
    if hasattr(sys, "_is_gil_enabled"):
        print("GIL enabled:", sys._is_gil_enabled())
