#!/usr/bin/env python3
"""The extension crate's module map, read from the code, checked two ways:

1. no import circle: no module uses a module that (through others) uses it;
2. the map in docs/architecture.md (the "module map" table) equals the code.

  scripts/module_map.py            check; exit 1 on a circle or a difference
  scripts/module_map.py --print    print the table the code implies
  scripts/module_map.py --write    rewrite the table in docs/architecture.md from the code
                                   (after a deliberate change of who uses whom)
  scripts/module_map.py --control  show the check can fail: on a copy of src/
                                   where key_store uses key_cache back, it must
                                   report the circle

A use is any `crate::...` path in code (comments are skipped), including
`use crate::a::{b, c}` groups; it counts for the longest module path it names.
lib.rs is the root that declares everything and is not part of the map.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
DOC = ROOT / "docs" / "architecture.md"


def module_name(path, src=SRC):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts)


def code_lines(text):
    for line in text.splitlines():
        code = line.split("//", 1)[0] if not line.lstrip().startswith("//") else ""
        if code.strip():
            yield code


def uses(text, modules):
    found = set()
    code = "\n".join(code_lines(text))
    for m in re.finditer(r"crate::((?:[a-z_][a-z0-9_]*::)*)(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", code):
        prefix = [p for p in m.group(1).split("::") if p]
        tail = m.group(2)
        items = [i.strip().split("::")[0].split(" ")[0] for i in tail.strip("{}").split(",")] if tail.startswith("{") else [tail]
        for item in items:
            path = prefix + ([] if item in ("self", "") else [item])
            for n in range(len(path), 0, -1):
                name = "::".join(path[:n])
                if name in modules:
                    found.add(name)
                    break
    return found


def read_code(src=SRC):
    """Each module's uses; mod.rs files only declare their children."""
    files = {module_name(p, src): p for p in sorted(src.rglob("*.rs")) if p.name != "lib.rs"}
    return {
        name: sorted(uses(path.read_text(), files) - {name}) for name, path in files.items() if path.name != "mod.rs"
    }


def circles(graph):
    """Strongly connected components of more than one module."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def table(graph):
    rows = ["| module | uses |", "|---|---|"]
    for name in sorted(graph):
        used = ", ".join(f"`{u}`" for u in graph[name]) or "nothing"
        rows.append(f"| `{name}` | {used} |")
    return "\n".join(rows)


def documented():
    text = DOC.read_text()
    start = text.index("<!-- module map: begin -->")
    end = text.index("<!-- module map: end -->")
    return text[start:end].split("\n", 1)[1].strip()


def control():
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / "src"
        shutil.copytree(SRC, copy)
        with open(copy / "pseudo" / "key_store.rs", "a") as f:
            f.write("\nfn _back() { crate::pseudo::key_cache::define_gucs(); }\n")
        found = circles(read_code(copy))
    if any("pseudo::key_cache" in c and "pseudo::key_store" in c for c in found):
        print("ok: control: a use of key_cache from key_store is reported as a circle")
        return 0
    print(f"FAIL: control: the injected circle was not reported (found {found})")
    return 1


def main():
    if "--control" in sys.argv:
        return control()
    graph = read_code()
    if "--write" in sys.argv:
        text = DOC.read_text()
        start = text.index("<!-- module map: begin -->")
        end = text.index("<!-- module map: end -->")
        DOC.write_text(text[:start] + "<!-- module map: begin -->\n" + table(graph) + "\n" + text[end:])
        graph = read_code()
    if "--print" in sys.argv:
        print(table(graph))
        return 0
    failed = False
    for comp in circles(graph):
        print("FAIL: import circle: " + " <-> ".join(comp))
        failed = True
    if documented() != table(graph):
        print("FAIL: docs/architecture.md's module map differs from the code; the code's map:")
        print(table(graph))
        failed = True
    if not failed:
        print(f"ok: {len(graph)} modules, no import circle, docs/architecture.md matches the code")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
