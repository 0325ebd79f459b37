"""Prints the opcode table dziura's stack reader needs for the running CPython, as Rust source for
crates/dziura-remote/src/layout/opcodes.rs: run it with each new minor version and paste its output.

For every opcode the interpreter can hold in its adaptive bytecode (base, specialized and
instrumented ones): how many inline cache units follow it, and what it tells about a caller
frame sitting on it (see `Opcodes` in that file):
  pushes  it can push a Python frame without a C call in between (the CALL family, SEND and
          FOR_ITER into generators, inlined __getitem__, property and __getattribute__ calls,
          and their instrumented forms)
  hides   the opcode byte does not say what the instruction is (INSTRUMENTED_LINE,
          INSTRUMENTED_INSTRUCTION, ENTER_EXECUTOR keep the original elsewhere)
Every other known opcode can only reach Python code through a C call, which pushes an entry
frame first, so a caller frame sitting on it right under a Python frame was read torn.
"""
import dis
import opcode
import sys

# Families that push frames themselves; besides them, any family with a specialized form that
# inlines a Python call (BINARY_SUBSCR_GETITEM, BINARY_OP_SUBSCR_GETITEM, LOAD_ATTR_PROPERTY,
# LOAD_ATTR_GETATTRIBUTE_OVERRIDDEN): its instructions may be de-specialized while that call runs.
PUSHING_FAMILIES = {"CALL", "CALL_KW", "CALL_FUNCTION_EX", "SEND", "FOR_ITER", "EXIT_INIT_CHECK"}
INLINING = ("GETITEM", "PROPERTY", "GETATTRIBUTE_OVERRIDDEN")
HIDING = {"INSTRUMENTED_LINE", "INSTRUMENTED_INSTRUCTION", "ENTER_EXECUTOR"}

names = {}
for i, n in enumerate(getattr(dis, "_all_opname", [])):
    if n and not n.startswith("<"):
        names[i] = n
for n, i in opcode.opmap.items():
    names.setdefault(i, n)
for source in (opcode, sys.modules.get("_opcode_metadata")):
    for n, i in getattr(source, "_specialized_opmap", {}).items():
        names[i] = n
try:
    from _opcode_metadata import _specializations as specs
except ImportError:
    specs = opcode._specializations
family = {m: fam for fam, members in specs.items() for m in members}
PUSHING_FAMILIES |= {f for f, members in specs.items() if any(k in m for m in members for k in INLINING)}
entries = opcode._inline_cache_entries


def fam(name):
    base = family.get(name, name)
    return base.removeprefix("INSTRUMENTED_") if base not in HIDING else base


def caches(name):
    f = fam(name)
    if hasattr(entries, "get"):
        return entries.get(f, 0)
    i = opcode.opmap.get(f)
    return entries[i] if i is not None and i < len(entries) else 0


ops = sorted((i, n) for i, n in names.items() if i < 256)
v = f"{sys.version_info[0]}_{sys.version_info[1]}"
print(f"/// CPython {sys.version_info[0]}.{sys.version_info[1]}: `scripts/opcodes.py` run with it.")
print(f"pub const V{v}: Opcodes = Opcodes {{")
print("    known: &[" + ", ".join(str(i) for i, _ in ops) + "],")
print("    caches: &[" + ", ".join(f"({i}, {caches(n)})" for i, n in ops if caches(n)) + "],")
print("    pushes: &[" + ", ".join(str(i) for i, n in ops if fam(n) in PUSHING_FAMILIES) + "],")
print("    hides: &[" + ", ".join(str(i) for i, n in ops if fam(n) in HIDING) + "],")
print("};")
