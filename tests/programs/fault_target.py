"""A target that changes under the sampler: `MODE SECONDS` works for a while (`steady`, called
from `main`), then per MODE: `exit` ends with status 3 mid-run; `exec` replaces itself with a new
Python running `after_exec` (same pid, new memory), `exec_sleep` with `sleep`, which is not Python; `fork` starts a child that keeps working
while the parent does too; `threads` starts and ends short threads without pause; `unmap`
recurses deep enough for new frame chunks (mapped on the way down, unmapped on the way back)
again and again while a thread maps and unmaps memory. It prints "ready" once it works."""

import mmap
import os
import sys
import threading
import time

mode, seconds = sys.argv[1], float(sys.argv[2])


def steady(until):
    x = 0
    while time.monotonic() < until:
        x += sum(range(100))
    return x


def short_thread():
    steady(time.monotonic() + 0.002)


def churn_threads(until):
    while time.monotonic() < until:
        ts = [threading.Thread(target=short_thread) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def down(n):
    return down(n - 1) + 1 if n else sum(range(50))


def map_and_unmap(until):
    while time.monotonic() < until:
        m = mmap.mmap(-1, 1 << 20)
        m[0] = 1
        m.close()


def churn_frames(until):
    while time.monotonic() < until:
        down(400)  # about 40 KiB of frames: past one 16 KiB chunk


def main():
    print("ready", flush=True)
    start = time.monotonic()
    steady(start + seconds / 2)
    rest = start + seconds
    if mode == "exit":
        os._exit(3)
    elif mode == "exec":
        code = f"import time\ndef after_exec():\n    x = 0\n    while time.monotonic() < {rest}:\n        x += 1\nafter_exec()\n"
        os.execv(sys.executable, [sys.executable, "-c", code])
    elif mode == "exec_sleep":
        os.execv("/bin/sleep", ["sleep", str(rest - time.monotonic())])
    elif mode == "fork":
        if os.fork() == 0:
            steady(rest)
            os._exit(0)
        steady(rest)
        os.wait()
    elif mode == "threads":
        churn_threads(rest)
    elif mode == "unmap":
        t = threading.Thread(target=map_and_unmap, args=(rest,), name="mapper")
        t.start()
        churn_frames(rest)
        t.join()


sys.setrecursionlimit(5000)
main()
