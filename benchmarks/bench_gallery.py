"""The gallery's cold first page: thumbnails rendered one after the other, or concurrently.

Run ``uv run python -m benchmarks.bench_gallery`` (about a minute). It writes ``--count``
copies (48, one page) of a synthetic 12 MP RGB JPEG, starts one real ``imgstats serve``
(gunicorn, ``--workers`` processes, 1 by default) per setting below, and for each of
``--rounds`` rounds makes every image new (a new modification time is a new version: headers
and thumbnails are cold again), then, setting after setting in turn, times what a browser
does:

* ``GET /gallery`` (the HTML of the first page), then
* the page's thumbnails, six requests at a time as a browser sends them, until all are in,
* and ``GET /gallery`` again, warm.

Settings: *sequential* is the gallery before concurrent rendering, reproduced by
configuration (one slot for slow work, so one rendering at a time, and a page that waits for
every rendering: ``SLOW_WORKERS=1``, ``GALLERY_PAGE_WAIT=600``); *default* is the service's
defaults (two slots, ``GALLERY_PAGE_WAIT=0.25``); *no wait* is ``GALLERY_PAGE_WAIT=0``. Times
are the best of the rounds; the ratios against *sequential* are the figures to read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.harness import synthetic_image, table
from benchmarks.servers import http_get, start_server

#: name -> environment of the server
SETTINGS = {
    "sequential (before)": {"IMGSTATS_SLOW_WORKERS": "1", "IMGSTATS_GALLERY_PAGE_WAIT": "600"},
    "default (after)": {},
    "no wait": {"IMGSTATS_GALLERY_PAGE_WAIT": "0"},
}
BROWSER_CONNECTIONS = 6


def write_images(folder: Path, count: int, shape=(3000, 4000)) -> list[Path]:
    """``count`` copies of one 12 MP RGB JPEG (quality 90) in ``folder``."""
    import numpy as np
    from PIL import Image

    grey = synthetic_image(shape, "uint8", kind="photo")
    rgb = np.stack([grey, np.flipud(grey), np.fliplr(grey)], axis=-1)
    first = folder / "photo_000.jpg"
    Image.fromarray(rgb).save(first, quality=90)
    data = first.read_bytes()
    paths = [first]
    for i in range(1, count):
        path = folder / f"photo_{i:03d}.jpg"
        path.write_bytes(data)
        paths.append(path)
    return paths


def make_new(paths: list[Path], round_: int) -> None:
    """Give every file a new version (an older, distinct modification time: never racy)."""
    when = time.time() - 3600 + round_
    for path in paths:
        os.utime(path, (when, when))


def visit(url: str) -> dict:
    """Time the first page's HTML, then every thumbnail it shows, then the page again."""
    start = time.perf_counter()
    status, _, body = http_get(url, "/gallery", timeout=600)
    html = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"/gallery answered {status}")
    text = body.decode()
    thumbs = [src.replace("&amp;", "&") for src in re.findall(r'<img src="([^"]+)"', text)]
    errors = text.count("error-frame")

    def get(src: str) -> int:
        return http_get(url, src, headers={"Accept": "image/webp,*/*"}, timeout=600)[0]

    with ThreadPoolExecutor(BROWSER_CONNECTIONS) as pool:
        statuses = list(pool.map(get, thumbs))
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    http_get(url, "/gallery", timeout=600)
    warm = time.perf_counter() - start
    return {
        "html": html,
        "all": loaded,
        "warm": warm,
        "thumbs": len(thumbs),
        "bad": errors + sum(s != 200 for s in statuses),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=48, help="images (48 is one page)")
    parser.add_argument("--rounds", type=int, default=3, help="cold visits per setting")
    parser.add_argument(
        "--workers", type=int, default=1, help="gunicorn workers per server (sharing renders)"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as tmp:
        root = Path(tmp)
        folder = root / "images"
        folder.mkdir()
        paths = write_images(folder, args.count)
        servers = {}
        try:
            for i, (name, env) in enumerate(SETTINGS.items()):
                servers[name] = start_server(
                    folder,
                    workers=args.workers,
                    timeout=120,
                    env={
                        "IMGSTATS_WARMUP": "0",
                        # the files were just touched (their ctime is now): not being written
                        "IMGSTATS_RACY_SECONDS": "0",
                        "IMGSTATS_GALLERY_CACHE_DIR": str(root / f"renders-{i}"),
                        **env,
                    },
                    log=root / f"server-{i}.log",
                )
            best: dict[str, dict] = {name: {} for name in SETTINGS}
            for round_ in range(args.rounds):
                make_new(paths, round_)
                for name, server in servers.items():
                    result = visit(server.url)
                    if result["bad"] or result["thumbs"] != min(args.count, 48):
                        raise RuntimeError(f"{name}: a page not fully shown: {result}")
                    for key in ("html", "all", "warm"):
                        best[name][key] = min(best[name].get(key, float("inf")), result[key])
        finally:
            for server in servers.values():
                server.stop()

    base = best["sequential (before)"]
    rows = []
    for name, times in best.items():
        rows.append(
            [
                name,
                f"{times['html']:.3f}",
                f"{base['html'] / times['html']:.1f}×",
                f"{times['all']:.3f}",
                f"{base['all'] / times['all']:.1f}×",
                f"{times['warm']:.3f}",
            ]
        )
    print(
        f"Cold first gallery page, {args.count} copies of a 12 MP JPEG, {args.workers} "
        f"worker(s), best of {args.rounds} rounds (s; speed-up against sequential)"
    )
    print(
        table(
            [
                "setting",
                "page HTML",
                "speed-up",
                "page + all thumbnails",
                "speed-up",
                "warm page HTML",
            ],
            rows,
        )
    )
    if args.json:
        Path(args.json).write_text(json.dumps(best, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
