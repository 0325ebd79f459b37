"""A target for dump --locals: arguments and locals of several types, then it waits."""
import time
def work(n, label, ratio=0.5, flag=True, nothing=None, big=2**100, neg=-7, obj=object()):
    text = "héllo ✓"
    items = [1, 2]
    print("ready", flush=True)
    while True:
        time.sleep(0.1)
work(42, "job")
