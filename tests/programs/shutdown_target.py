"""A launched command for the shutdown tests: `MODE MARKER SECONDS` works for SECONDS and, per
MODE, handles the signals dziura sends: `term` writes MARKER and exits 5 on SIGTERM, `int7` exits
7 on SIGINT, `stubborn` ignores SIGINT and SIGTERM (only SIGKILL ends it), `plain` keeps the
defaults. It writes MARKER + ".started" once its handlers are in place."""

import signal
import sys
import time

mode, marker, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])


def leave(code, text):
    def handler(signum, frame):
        with open(marker, "w") as f:
            f.write(f"{text} {signum}\n")
        sys.exit(code)

    return handler


if mode == "term":
    signal.signal(signal.SIGTERM, leave(5, "term"))
elif mode == "int7":
    signal.signal(signal.SIGINT, leave(7, "int"))
elif mode == "stubborn":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def work(until):
    x = 0
    while time.monotonic() < until:
        x += sum(range(100))
    return x


open(marker + ".started", "w").close()
work(time.monotonic() + seconds)
