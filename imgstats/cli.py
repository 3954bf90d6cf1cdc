"""The ``imgstats`` command line: ``imgstats stats SOURCE FUNC...``, ``imgstats zonal SOURCE
ZONES FUNC...`` and ``imgstats serve``."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from .errors import ImgStatsError
from .functions import NAMED_FUNCTIONS


def _band(value: str):
    """``--band 0`` is an index, ``--band R`` or ``--band luma`` a name."""
    # ASCII digits only: str.isdigit() accepts "²" (int() then fails) and "٣" (int() gives 3).
    return int(value) if re.fullmatch(r"-?[0-9]+", value) else value


def _chunks(value: str):
    """``--chunks``: ``auto``, a size (``2048``), sizes of y, x (``512,512``), bytes (``64MiB``)."""
    from dask.utils import parse_bytes

    from .errors import InvalidOption

    if re.fullmatch(r"[0-9]+(,[0-9]+)*", value):
        sizes = [int(v) for v in value.split(",")]
        if 0 not in sizes and len(sizes) <= 3:
            # by axis (y, x[, band]): "512,512" fits greyscale and colour images alike
            return sizes[0] if len(sizes) == 1 else dict(enumerate(sizes))
    elif value == "auto":
        return value
    else:
        try:
            if parse_bytes(value) > 0:
                return value
        except ValueError:
            pass
    # A bad value reached dask as a traceback (ValueError, ZeroDivisionError).
    raise InvalidOption(
        f"invalid --chunks {value!r}: use 'auto', a positive size like 2048 or 512,512, "
        "or bytes like 64MiB"
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``imgstats`` command."""
    parser = argparse.ArgumentParser(
        prog="imgstats",
        description="Exact image statistics: min, max, mean, median and any percentile pXXX.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    stats = sub.add_parser(
        "stats",
        help="print statistics of an image file or URL, or of several images as one set",
        description="Print one 'func value' line per function (or JSON with --json). "
        "Several sources, or a quoted glob pattern ('images/*.jpg'), count as one set of "
        "samples.",
    )
    stats.add_argument("source", help="image path or fsspec URL (file://, https://, s3://, gs://)")
    stats.add_argument(
        "funcs",
        nargs="+",
        metavar="FUNC",
        help="more sources (paths, URLs, globs), then the functions: "
        + ", ".join(NAMED_FUNCTIONS)
        + " or pXXX",
    )
    stats.add_argument(
        "--window",
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="only the pixels x0 <= x < x1, y0 <= y < y1 (clipped to the image)",
    )
    stats.add_argument("--json", action="store_true", help="print a JSON object instead")
    stats.add_argument(
        "--band",
        type=_band,
        default=None,
        help="band index or name (R, G, B...), or 'luma'; default: all samples",
    )
    stats.add_argument(
        "--page",
        type=int,
        default=None,
        help="page of a multi-page TIFF or frame of an animated image (default 0, the first)",
    )
    stats.add_argument(
        "--raw",
        action="store_true",
        help="count every sample: ignore the file's nodata, mask and alpha (default: honour them)",
    )
    stats.add_argument(
        "--nodata",
        default=None,
        help="samples equal to this value do not count (in place of the file's nodata and mask)",
    )
    stats.add_argument(
        "--bbox",
        default=None,
        help="minx,miny,maxx,maxy in map coordinates (the raster's CRS, or --crs)",
    )
    stats.add_argument(
        "--crs",
        default=None,
        help="CRS of --bbox, e.g. EPSG:4326 (reprojection needs the geo extra)",
    )
    stats.add_argument(
        "--pixel-limit",
        type=int,
        default=None,
        help="refuse images declaring more pixels (default IMGSTATS_PIXEL_LIMIT or 2**30)",
    )
    stats.add_argument(
        "--chunks",
        default=None,
        help="force dask chunking: 'auto', '2048', '512,512' (y,x) or '64MiB' (default: by size)",
    )

    zonal = sub.add_parser(
        "zonal",
        help="print statistics per zone of a label raster or of a GeoJSON layer",
        description="One row per zone (label, or polygon feature in pixel coordinates), one "
        "column per function plus count, as CSV (or JSON) on stdout. Empty zones have count 0 "
        "and empty values.",
    )
    zonal.add_argument("source", help="image file or URL")
    zonal.add_argument("zones", help="label raster (file or URL) or a .geojson file")
    zonal.add_argument("funcs", nargs="+", help="min, max, mean, median or pXXX")
    zonal.add_argument("--band", type=_band, default=None, help="band index or name")
    zonal.add_argument(
        "--format", choices=("csv", "json"), default="csv", help="output format (default csv)"
    )
    zonal.add_argument(
        "--background",
        default="0",
        help="label that is no zone, or 'none' to keep every label (default 0)",
    )
    zonal.add_argument(
        "--id-property", default=None, help="GeoJSON property holding each feature's zone id"
    )
    zonal.add_argument("--page", type=int, default=None, help="page of a multi-page image")

    serve = sub.add_parser(
        "serve",
        help="run the HTTP service under gunicorn",
        description="Serve /health, /stats/<image>/<func>, /api/images and the gallery.",
    )
    serve.add_argument(
        "--images",
        default=None,
        help="image store: a folder or fsspec URL (default: the bundled gallery)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8181)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn worker processes (default: IMGSTATS_WORKERS or 2)",
    )
    serve.add_argument("--dev", action="store_true", help="use Flask's development server")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        serve = _web_serve(args.dev)
        if serve is None:
            return 2
        return (
            serve(
                images=args.images,
                host=args.host,
                port=args.port,
                workers=args.workers,
                dev=args.dev,
            )
            or 0
        )
    if args.command == "zonal":
        return _zonal(args)
    return _stats(args)


def _zonal(args) -> int:
    from .errors import InvalidOption

    try:
        if args.background.lower() == "none":
            background = None
        elif re.fullmatch(r"-?[0-9]+", args.background):
            background = int(args.background)
        else:
            raise InvalidOption(
                f"--background must be an integer or 'none', not {args.background!r}"
            )
        options = {} if args.page is None else {"page": args.page}
        from .zones import zonal

        frame = zonal(
            args.source,
            args.zones,
            list(args.funcs),
            band=args.band,
            background=background if not args.zones.lower().endswith((".geojson", ".json")) else 0,
            id_property=args.id_property,
            **options,
        )
    except ImgStatsError as exc:
        print(f"imgstats: error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        rows = [
            {"zone": _json_number(_plain(z)), **{k: _json_number(_plain(v)) for k, v in r.items()}}
            for z, r in frame.to_dict(orient="index").items()
        ]
        print(json.dumps(rows, allow_nan=False))
    else:
        sys.stdout.write(frame.to_csv())
    return 0


def _plain(value):
    """A Python number (or None for a missing value) from a pandas cell."""
    if value is None or type(value).__name__ == "NAType":
        return None
    return value.item() if hasattr(value, "item") else value


def _split_sources(first: str, items: list[str]) -> tuple[list[str], list[str]]:
    """Sources (the first item, then any that look like paths, URLs or globs), then funcs.

    An item is a source while it exists, holds a glob character, a ``/`` or ``://``, or ends
    in a file extension (``.jpg``; not ``p99.9``): ``P99`` then reads as a bad function name.
    """
    sources = [first]
    rest = list(items)
    while rest and (
        os.path.exists(rest[0]) or re.search(r"[*?\[/]|\.[A-Za-z][A-Za-z0-9]*$", rest[0])
    ):
        sources.append(rest.pop(0))
    return sources, rest


def _expand(sources: list[str]) -> list[str]:
    """Expand local glob patterns (sorted); URLs and plain paths are kept as they are."""
    import glob

    from .errors import ImageNotFound

    out = []
    for src in sources:
        if "://" not in src and re.search(r"[*?\[]", src) and not os.path.exists(src):
            found = sorted(glob.glob(src))
            if not found:
                raise ImageNotFound(f"no file matches {src!r}")
            out.extend(found)
        else:
            out.append(src)
    return out


#: What ``imgstats serve`` needs beyond the library: the ``web`` extra (and Flask's own).
_WEB_PACKAGES = {"flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "gunicorn"}


def _web_serve(dev: bool):
    """The service's ``serve``, or ``None`` after a one-line message when the web extra is
    missing (the library alone does not install Flask or gunicorn)."""
    try:
        from .web._serve import serve

        if not dev:
            import gunicorn  # noqa: F401 -- imported only by the forked server, too late to say
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _WEB_PACKAGES:
            raise
        print(
            f"imgstats: error: 'imgstats serve' needs the web extra ({exc.name} is not "
            "installed): pip install 'imgstats[web]'",
            file=sys.stderr,
        )
        return None
    return serve


def _stats(args) -> int:
    from .reduce import compute

    options = {"pixel_limit": args.pixel_limit}
    if args.page is not None:
        options["page"] = args.page
    if args.raw:
        options["raw"] = True
    for name in ("nodata", "bbox", "crs"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    try:
        sources, funcs = _split_sources(args.source, list(args.funcs))
        if not funcs:
            from .errors import InvalidOption

            raise InvalidOption(
                "give at least one function after the sources: "
                + ", ".join(NAMED_FUNCTIONS)
                + " or pXXX"
            )
        if args.chunks is not None:
            options["chunks"] = _chunks(args.chunks)
        if args.window is not None:
            from .regions import parse_window

            options["window"] = parse_window(args.window)
        sources = _expand(sources)
        values = compute(
            sources[0] if len(sources) == 1 else sources,
            funcs,
            args.band,
            progress=sys.stderr.isatty() and len(sources) == 1,
            **options,
        )
    except ImgStatsError as exc:
        print(f"imgstats: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        # NaN and infinities have no JSON spelling: null, as the web API answers
        print(json.dumps({name: _json_number(v) for name, v in values.items()}, allow_nan=False))
    else:
        for name, value in values.items():
            print(f"{name} {value}")
    return 0


def _json_number(value):
    """``None`` for NaN and infinities, else the value."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
