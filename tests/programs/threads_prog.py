import threading


def work(n):
    total = 0
    for i in range(n):
        total += leaf(i)
    return total


def leaf(i):
    return i * 2


def early_worker(started, go):
    started.set()
    go.wait()
    work(300)


def run():
    started, go = threading.Event(), threading.Event()
    early = threading.Thread(target=early_worker, args=(started, go), name="early")
    early.start()
    started.wait()
    return early, go


def after(early, go):
    go.set()
    late = [threading.Thread(target=work, args=(100 * (k + 1),), name=f"late-{k}") for k in range(3)]
    for t in late:
        t.start()
    for t in late:
        t.join()
    early.join()
    work(50)
    return late
