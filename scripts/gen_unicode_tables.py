#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Writes core/tokenizer/unicode_tables.cpp: the character classes and lower-case mapping the CLIP
# tokenizer needs, exactly as Python 3.11 (Unicode 14.0) str.lower()/str.isspace() and the `regex`
# module's \s, \p{L}, \p{N} see them, so the C++ tokenizer needs no ICU.
#
#   python3 scripts/gen_unicode_tables.py            # rewrite the table
#   python3 scripts/gen_unicode_tables.py --check    # fail if the committed table is stale
#
# Flags per code point (must match core/tokenizer/unicode_text.h):
#   LETTER  \p{L} (general category L*)          NUMBER  \p{N} (N*)
#   SPACE   the regex module's \s = White_Space   PYSPACE str.isspace() (what str.strip() removes)
#   CASED   Python's final-sigma "cased" (only meaningful where not CASE_IGNORABLE)
#   CASE_IGNORABLE  Python's final-sigma "case-ignorable"
#   UNMATCHED  matched by no branch of the CLIP pattern under IGNORECASE: a non-letter whose case
#              variant is a letter (U+0345) is outside [\p{L}] and outside [^\s\p{L}\p{N}] too.
import argparse
import pathlib
import sys
import unicodedata

LETTER, NUMBER, SPACE, PYSPACE, CASED, CASE_IGNORABLE, UNMATCHED = (1 << i for i in range(7))
MAX_CP = 0x110000

# PropList.txt White_Space (stable since Unicode 6.3); unicodedata does not expose it.
WHITE_SPACE = set(range(0x09, 0x0E)) | {0x20, 0x85, 0xA0, 0x1680} | set(range(0x2000, 0x200B)) \
    | {0x2028, 0x2029, 0x202F, 0x205F, 0x3000}


def final_sigma_props(cp):
    """Probe CPython's own final-sigma rule: (cased and not ignorable, ignorable)."""
    ch = chr(cp)
    alone = (ch + "\u03a3").lower()[-1] == "\u03c2"      # final iff cased and not ignorable
    after_a = ("A" + ch + "\u03a3").lower()[-1] == "\u03c2"  # final iff ignorable or cased
    ignorable = after_a and not alone
    return alone, ignorable


def case_variants(cp):
    out = set()
    ch = chr(cp)
    for v in (ch.lower(), ch.upper(), ch.casefold(), ch.title()):
        if len(v) == 1:
            out.add(ord(v))
    return out


def compute_flags():
    cats = [unicodedata.category(chr(c)) for c in range(MAX_CP)]
    # Reverse case links so that "has a letter among its case variants" is symmetric.
    linked = [set() for _ in range(MAX_CP)]
    for c in range(MAX_CP):
        if cats[c] in ("Cn", "Cs", "Co"):
            continue
        for v in case_variants(c):
            if v != c:
                linked[c].add(v)
                linked[v].add(c)
    flags = [0] * MAX_CP
    for c in range(MAX_CP):
        cat = cats[c]
        f = 0
        if cat[0] == "L":
            f |= LETTER
        if cat[0] == "N":
            f |= NUMBER
        if c in WHITE_SPACE:
            f |= SPACE
        if chr(c).isspace():
            f |= PYSPACE
        if cat not in ("Cs",):
            cased, ignorable = final_sigma_props(c)
            if ignorable:
                f |= CASE_IGNORABLE
            elif cased:
                f |= CASED
        if not f & (LETTER | NUMBER | SPACE):
            if any(cats[v][0] in "LN" for v in linked[c]):
                f |= UNMATCHED
        flags[c] = f
    assert WHITE_SPACE <= {c for c in range(MAX_CP) if flags[c] & PYSPACE}
    return flags


def check_final_sigma_right_context(flags):
    # The right-hand side of the rule uses the same two properties; verify the probe agrees.
    for c in range(MAX_CP):
        if 0xD800 <= c < 0xE000:
            continue
        got = ("A\u03a3" + chr(c)).lower()[1] == "\u03c2"
        want = bool(flags[c] & CASE_IGNORABLE) or not flags[c] & CASED
        assert got == want, hex(c)


def check_against_regex(flags):
    """Optional: compare the pattern classes with the installed `regex` module (assigned code
    points only, since its Unicode version may be newer than Python's)."""
    try:
        import regex
    except ImportError:
        print("note: `regex` not installed; skipped the cross-check", file=sys.stderr)
        return
    letter = regex.compile(r"[\p{L}]", regex.IGNORECASE)
    number = regex.compile(r"[\p{N}]", regex.IGNORECASE)
    other = regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
    space = regex.compile(r"\s")
    bad = []
    for c in range(MAX_CP):
        ch = chr(c)
        if unicodedata.category(ch) in ("Cn", "Cs"):
            continue
        f = flags[c]
        want = (bool(f & LETTER), bool(f & NUMBER), not f & (LETTER | NUMBER | SPACE | UNMATCHED),
                bool(f & SPACE))
        got = (bool(letter.match(ch)), bool(number.match(ch)), bool(other.match(ch)),
               bool(space.match(ch)))
        if want != got:
            bad.append(hex(c))
    if bad:
        sys.exit(f"regex module disagrees on {len(bad)} code points: {bad[:20]}")


def ranges(flags):
    out = []
    start = 0
    for c in range(1, MAX_CP + 1):
        if c == MAX_CP or flags[c] != flags[start]:
            if flags[start]:
                out.append((start, c - 1, flags[start]))
            start = c
    return out


def lower_runs():
    """Single-code-point lower-case mappings as runs (first, last, stride, delta)."""
    pairs = []
    for c in range(MAX_CP):
        if 0xD800 <= c < 0xE000:
            continue
        low = chr(c).lower()
        if len(low) != 1:
            assert c == 0x130, hex(c)  # U+0130 -> "i\u0307", handled in unicode_text.cpp
            continue
        if ord(low) != c:
            pairs.append((c, ord(low) - c))
    runs = []
    for cp, delta in pairs:
        if runs:
            first, last, stride, d = runs[-1]
            if d == delta and (first == last and cp - last in (1, 2) or cp - last == stride):
                runs[-1] = (first, cp, cp - last, d)
                continue
        runs.append((cp, cp, 1, delta))
    return runs


def wrap(entries, width=100):
    lines, line = [], "   "
    for e in entries:
        if len(line) + 1 + len(e) + 1 > width:
            lines.append(line)
            line = "   "
        line += " " + e + ","
    if line.strip():
        lines.append(line)
    return lines


def render(flag_ranges, runs):
    lines = [
        "// SPDX-License-Identifier: GPL-3.0-or-later",
        "// GENERATED by scripts/gen_unicode_tables.py from Python "
        f"{sys.version_info[0]}.{sys.version_info[1]} (Unicode {unicodedata.unidata_version}). "
        "Do not edit.",
        '#include "tokenizer/unicode_text.h"',
        "",
        "namespace psa::unicode {",
        "",
        "// clang-format off",
        "const CharRange kCharRanges[] = {",
    ]
    lines += wrap(f"{{0x{a:X}, 0x{b:X}, {f}}}" for a, b, f in flag_ranges)
    lines += ["};", f"const std::size_t kCharRangeCount = {len(flag_ranges)};", "",
              "const LowerRun kLowerRuns[] = {"]
    lines += wrap(f"{{0x{a:X}, 0x{b:X}, {st}, {d}}}" for a, b, st, d in runs)
    lines += ["};", f"const std::size_t kLowerRunCount = {len(runs)};", "// clang-format on", "",
              "} // namespace psa::unicode", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    root = pathlib.Path(__file__).resolve().parent.parent
    target = root / "core" / "tokenizer" / "unicode_tables.cpp"
    flags = compute_flags()
    check_final_sigma_right_context(flags)
    check_against_regex(flags)
    text = render(ranges(flags), lower_runs())
    if args.check:
        if target.read_text() != text:
            sys.exit(f"{target} is stale: run scripts/gen_unicode_tables.py")
        return
    target.write_text(text)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
