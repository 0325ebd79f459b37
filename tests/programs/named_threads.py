"""A target whose threads have threading names: two named workers that spin, one that waits, a
Thread subclass with a name set after start, and a thread started with a default name. Prints
"ready" once all are running, then lives for the given seconds."""

import json
import sys
import threading
import time


def spin(stop):
    x = 0
    while not stop.is_set():
        x += 1
    return x


def waiter(stop):
    stop.wait()


class Renamed(threading.Thread):
    def run(self):
        self.stop.wait()


def main(seconds):
    stop = threading.Event()
    threads = [
        threading.Thread(target=spin, args=(stop,), name="worker-a"),
        threading.Thread(target=spin, args=(stop,), name="worker-b"),
        threading.Thread(target=waiter, args=(stop,), name="idle-wörker ✓"),
        threading.Thread(target=waiter, args=(stop,)),
    ]
    # An instance whose __dict__ was replaced by a plain dict (no shared-key values), and a name
    # outside the BMP.
    plain = threading.Thread(target=waiter, args=(stop,), name="plain-dict-\U0001f600")
    plain.__dict__ = dict(plain.__dict__)
    threads.append(plain)
    renamed = Renamed(daemon=True)
    renamed.stop = stop
    threads.append(renamed)
    for t in threads:
        t.start()
    renamed.name = "renamed-later"
    # An instance __dict__ that has been materialised (a plain dict, not shared-key values).
    vars(threads[1])["extra"] = 1
    names = {t.native_id: t.name for t in threads} | {threading.get_native_id(): "MainThread"}
    print("ready", json.dumps(names), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(float(sys.argv[1]))
