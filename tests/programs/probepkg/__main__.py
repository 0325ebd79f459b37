import json
import os
import sys

print(json.dumps({"argv": sys.argv, "name": __name__, "file": __file__, "path0": sys.path[0],
                  "main_is_module": sys.modules["__main__"].__dict__ is globals()}))
code = int(os.environ.get("PROBE_EXIT", "0"))
if os.environ.get("PROBE_RAISE"):
    raise RuntimeError("boom")
sys.exit(code)
