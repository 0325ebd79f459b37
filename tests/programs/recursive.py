"""A target whose stack never holds still: recursion down to DEPTH and back, forever (the shape of
py-spy's own recursive test). A caller frame with a callee is always on line 8 (the call)."""
import sys


def recurse(x):
    if x > 0:
        recurse(x - 1)


depth = int(sys.argv[1]) if len(sys.argv) > 1 else 20
sys.setrecursionlimit(depth + 100)
print("ready", flush=True)
while True:
    recurse(depth)
