#!/usr/bin/env python3
"""Small helpers for the benchmark scripts: read a saved /metrics scrape (Prometheus or
OpenMetrics text) and print sums or histogram quantiles. Standard library only.

  promstat.py sum FILE NAME [LABEL=VALUE ...]     sum of every sample named NAME
  promstat.py count FILE NAME                     number of samples named NAME
  promstat.py hist END_FILE [START_FILE] NAME Q   quantile Q of histogram NAME (delta END-START)
  promstat.py buckets END_FILE [START_FILE] NAME  the cumulative buckets, one per line

`hist` prints: `count=N q=Q le=BOUND interp=SECONDS`, where BOUND is the smallest bucket upper
bound whose cumulative count reaches Q*N (the quantile lies at or below it, and above the
previous bound), and interp is the usual linear interpolation inside that bucket.
"""
import re
import sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line or line.startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                continue
            labels = dict(LABEL.findall(m.group(3) or ""))
            try:
                value = float(m.group(4))
            except ValueError:
                continue
            yield m.group(1), labels, value


def total(path, name, want=None):
    want = want or {}
    s = 0.0
    for n, labels, v in samples(path):
        if n == name and all(labels.get(k) == val for k, val in want.items()):
            s += v
    return s


def buckets(path, name):
    out = {}
    for n, labels, v in samples(path):
        if n == name + "_bucket" and "le" in labels:
            le = float("inf") if labels["le"] in ("+Inf", "Inf") else float(labels["le"])
            out[le] = out.get(le, 0.0) + v
    return out


def delta_buckets(end, start, name):
    b1 = buckets(end, name)
    if not b1:
        sys.exit(f"promstat: no histogram {name} in {end}")
    b0 = buckets(start, name) if start else {}
    return sorted((le, c - b0.get(le, 0.0)) for le, c in b1.items())


def quantile(bs, q):
    n = bs[-1][1]
    if n <= 0:
        return n, float("nan"), float("nan")
    rank = q * n
    prev_le, prev_c = 0.0, 0.0
    for le, c in bs:
        if c >= rank:
            if le == float("inf"):
                return n, le, prev_le
            frac = (rank - prev_c) / (c - prev_c) if c > prev_c else 1.0
            return n, le, prev_le + (le - prev_le) * frac
        prev_le, prev_c = le, c
    return n, float("inf"), prev_le


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "sum":
        want = dict(a.split("=", 1) for a in argv[4:])
        v = total(argv[2], argv[3], want)
        print(int(v) if v == int(v) else v)
    elif cmd == "count":
        print(sum(1 for n, _, _ in samples(argv[2]) if n == argv[3]))
    elif cmd == "hist":
        if len(argv) == 6:
            end, start, name, q = argv[2], argv[3], argv[4], float(argv[5])
        else:
            end, start, name, q = argv[2], None, argv[3], float(argv[4])
        n, le, interp = quantile(delta_buckets(end, start, name), q)
        print(f"count={int(n)} q={q} le={le:g} interp={interp:.4f}")
    elif cmd == "buckets":
        if len(argv) == 5:
            end, start, name = argv[2], argv[3], argv[4]
        else:
            end, start, name = argv[2], None, argv[3]
        for le, c in delta_buckets(end, start, name):
            print(f"le={le:g} cumulative={int(c)}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
