"""Benchmark a collection question over HTTP against ``/health``, on loopback.

Run ``uv run python benchmarks/bench_collections.py`` (``--workers``, ``--requests``). It
starts ``imgstats serve`` (gunicorn) over the bundled gallery (14 images: uint8 RGB and
greyscale JPEGs, an RGBA PNG, uint16, int16 and float32 TIFFs), asks every image for one
statistic once (so each worker has summarized it: with several workers each must see every
image, which the warm-up repeats until all have), then prints, measured in this one run:

* **cached ratio**: median latency of ``GET /stats/IMG_*/median`` asked again (the store is
  listed and every image's version checked on each request) / median ``/health`` latency,
  the two asked in turn; target <= 2;
* **new-function ratio**: the same, each request a percentile never asked of the collection
  before (the merged summary is reused; the float32 image makes every collection percentile a
  float32 one, so some need one refinement pass over that image's pixels), and over the 11
  uint8 JPEGs (``*.jpg``), which never read pixels;
* the first collection question after every image was seen (merging 14 summaries), for
  information.

Every collection answer is checked against numpy on the concatenated samples before timing.
Traffic is loopback only and bounded (a few hundred requests).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time

import numpy as np

import imgstats
from benchmarks.servers import start_server
from imgstats.data import gallery_path


def get(port: int, path: str) -> tuple[int, bytes, float]:
    """``(status, body, seconds)`` of one request on a new connection (as /health gets)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, body, time.perf_counter() - start
    finally:
        conn.close()


def ok(port: int, path: str) -> tuple[dict, float]:
    status, body, seconds = get(port, path)
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
    return (json.loads(body) if body.startswith(b"{") else {}), seconds


def side_by_side(port: int, paths, n: int) -> tuple[float, float]:
    """Median seconds of ``/health`` and of ``paths`` (cycled), asked in turn ``n`` times."""
    health, other = [], []
    for i in range(n):
        health.append(ok(port, "/health")[1])
        other.append(ok(port, paths[i % len(paths)])[1])
    return statistics.median(health), statistics.median(other)


def expected(names, q: float) -> float:
    together = np.concatenate(
        [np.asarray(imgstats.open_image(gallery_path() / n)).ravel() for n in names]
    )
    return np.nanpercentile(together, q).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    with start_server(workers=args.workers, env={"IMGSTATS_WARMUP": "1"}) as server:
        port = int(server.url.rsplit(":", 1)[1])
        names = ok(port, "/api/images")[0]["images"]
        jpegs = [n for n in names if n.endswith(".jpg")]
        # every worker sees every image once (connections are spread over the workers)
        for _ in range(4 * args.workers):
            for name in names:
                ok(port, f"/stats/{name}/mean")
        first = ok(port, "/stats/IMG_*/max")[1]
        for pattern, members in [("IMG_*", names), ("*.jpg", jpegs)]:
            body = ok(port, f"/stats/{pattern}/median")[0]
            if body["image_count"] != len(members) or body["value"] != expected(members, 50):
                raise RuntimeError(f"{pattern}: {body} differs from numpy")
        for _ in range(4 * args.workers):  # the cached answer in every worker
            ok(port, "/stats/IMG_*/median")
        health, cached = side_by_side(port, ["/stats/IMG_*/median"], args.requests)
        fresh = [f"/stats/IMG_*/p{q / 10:g}" for q in range(1, 1000, 7)][: args.requests // 2]
        health2, new = side_by_side(port, fresh, len(fresh))
        fresh_jpg = [f"/stats/*.jpg/p{q / 10:g}" for q in range(3, 1000, 7)][: args.requests // 2]
        health3, new_jpg = side_by_side(port, fresh_jpg, len(fresh_jpg))

    rows = [
        ("cached: IMG_* (14 images) median again", cached, health, 2.0),
        ("new percentile: IMG_* (14, float32 set)", new, health2, None),
        ("new percentile: *.jpg (11 uint8 images)", new_jpg, health3, None),
    ]
    print(
        f"gunicorn workers: {args.workers}; {args.requests} requests per line, each on a "
        "new connection, in turn with /health"
    )
    print(f"first collection question after each image was seen (14 merges): {first * 1e3:.2f} ms")
    print(f"{'case':45} {'median ms':>10} {'/health ms':>11} {'ratio':>7}  target")
    for label, value, base, target in rows:
        ratio = value / base
        verdict = (
            "" if target is None else (f"<= {target:g}x {'PASS' if ratio <= target else 'MISS'}")
        )
        print(f"{label:45} {value * 1e3:10.2f} {base * 1e3:11.2f} {ratio:6.2f}x  {verdict}")


if __name__ == "__main__":
    main()
