"""A tiny API server loop with a planted hole, after the story that started dziura.

Each request to ``/servers`` renders a list of servers; a decorator writes an audit row to a log
table in a default SQLite database and, to show "recent activity", reads the whole log back and
filters it in Python. The log grows with every request, so each request is slower than the last.

    dziura run -s tottime -l 8 examples/log_api.py
"""

import json
import sqlite3
import sys
import time

db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE log (ts REAL, user TEXT, path TEXT, payload TEXT)")
db.execute("CREATE TABLE servers (id INTEGER PRIMARY KEY, name TEXT, state TEXT)")
db.executemany("INSERT INTO servers (name, state) VALUES (?, ?)", [(f"vm-{i}", "running") for i in range(50)])


def audited(view):
    def wrapper(user, path):
        db.execute("INSERT INTO log VALUES (?, ?, ?, ?)", (time.time(), user, path, "x" * 200))
        recent = recent_activity(user)
        return view(user, path, recent)

    return wrapper


def recent_activity(user):
    # The hole: reads every log row ever written, then filters in Python.
    rows = db.execute("SELECT ts, user, path, payload FROM log").fetchall()
    mine = [r for r in rows if r[1] == user]
    return mine[-5:]


def render(servers):
    return json.dumps([{"id": i, "name": n, "state": s} for i, n, s in servers])


@audited
def list_servers(user, path, recent):
    servers = db.execute("SELECT id, name, state FROM servers").fetchall()
    return render(servers), len(recent)


def main(requests):
    for i in range(requests):
        list_servers(f"user{i % 7}", "/servers")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500)
