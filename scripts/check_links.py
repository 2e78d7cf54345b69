#!/usr/bin/env python3
"""Every relative link in README.md, CHANGELOG.md and docs/*.md points at a
file of the repository and, with a #fragment, at a heading of that file
(GitHub's anchors). Exit 1 on a broken link.

  scripts/check_links.py            check
  scripts/check_links.py --control  show the check can fail (a broken link is reported)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        base = slug(line.lstrip("#"))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def pages():
    return [ROOT / "README.md", ROOT / "CHANGELOG.md"] + sorted((ROOT / "docs").glob("*.md"))


def broken(files):
    bad = []
    for page in files:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, frag = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                bad.append(f"{page.relative_to(ROOT)}: {target}: no such file")
            elif frag and (dest.is_dir() or frag not in anchors(dest)):
                bad.append(f"{page.relative_to(ROOT)}: {target}: no such heading")
    return bad


def main():
    if "--control" in sys.argv:
        import tempfile

        with tempfile.TemporaryDirectory(dir=ROOT / "docs") as tmp:
            page = pathlib.Path(tmp) / "control.md"
            page.write_text("# Control\n\n[a](../architecture.md#no-such-heading) [b](../nowhere.md)\n")
            found = broken([page])
        if len(found) == 2:
            print("ok: control: a missing heading and a missing file are reported")
            return 0
        print(f"FAIL: control: reported {found}")
        return 1
    files = pages()
    bad = broken(files)
    for b in bad:
        print("FAIL: broken link: " + b)
    if not bad:
        print(f"ok: links in {len(files)} pages resolve")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
