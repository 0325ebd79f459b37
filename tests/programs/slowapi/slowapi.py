"""A Django API with dziura's story planted in it: a rate-limit decorator scans an unindexed log
table (SQLite, through Django's own database layer) on every request. Served by gunicorn in the
tests: `gunicorn slowapi:application`. `python slowapi.py init DB ROWS` fills the table."""

import functools
import os
import sys

import django
from django.conf import settings

DB = os.environ.get("SLOWAPI_DB", os.path.join(os.path.dirname(os.path.abspath(__file__)), "slowapi.sqlite3"))

settings.configure(
    DEBUG=False,
    SECRET_KEY="not-a-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DB}},
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)
django.setup()

from django.db import connection  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def check_rate(view):
    """The planted hole: every request counts the client's earlier requests in the whole log."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM log WHERE message LIKE %s", ["%" + request.path + "%"])
            seen = cursor.fetchone()[0]
            cursor.execute("INSERT INTO log (message) VALUES (%s)", [request.path])
        request.seen = seen
        return view(request, *args, **kwargs)
    return wrapper


@check_rate
def status(request, name):
    return JsonResponse({"service": name, "ok": True, "seen": request.seen})


urlpatterns = [path("api/status/<str:name>", status)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


def init(rows):
    """The log as months of traffic left it (written with sqlite3 itself: Django's executemany
    takes minutes for this)."""
    import sqlite3
    with sqlite3.connect(DB) as db:
        db.execute("CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, message TEXT)")
        db.execute("DELETE FROM log")
        db.executemany("INSERT INTO log (message) VALUES (?)",
                       ((f"/api/status/host{i % 500} served in {i % 97} ms",) for i in range(rows)))


if __name__ == "__main__" and sys.argv[1:2] == ["init"]:
    init(int(sys.argv[2]))
