"""The ``imgstats`` command line: ``imgstats stats SOURCE... FUNC...``, ``imgstats histogram
SOURCE``, ``imgstats zonal SOURCE ZONES FUNC...`` and ``imgstats serve``.

``imgstats --help`` and ``imgstats COMMAND --help`` list every option with its default;
errors are one ``imgstats: error: ...`` line on stderr, in the command line's words, and
exit with status 2; Ctrl-C exits with 130, a closed stdout quietly with 141.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys

from .errors import ImgStatsError, reword
from .functions import NAMED_FUNCTIONS, QUANTILE_METHODS


def _band(value: str):
    """``--band 0`` is an index, ``--band R`` or ``--band luma`` a name."""
    # ASCII digits only: str.isdigit() accepts "²" (int() then fails) and "٣" (int() gives 3).
    return int(value) if re.fullmatch(r"-?[0-9]+", value) else value


def _positive(value: str) -> int:
    """A whole number of at least 1 (``--pixel-limit``, ``--workers``): ``--pixel-limit -5``
    refused every image "over --pixel-limit -5", ``--workers 0`` took the default."""
    if not re.fullmatch(r"[0-9]+", value.strip()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return int(value)


def _page(value: str) -> int:
    """``--page``: ASCII digits, as ``?page=`` takes them; ``int()`` also read other scripts'
    digits (``--page ١`` was page 1) and ``1_0``. A negative one is refused by the reader."""
    if not re.fullmatch(r"-?[0-9]+", value):
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {value!r}")
    return int(value)


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


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help with room for the options' names, and the examples of the epilogs as written."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=30)


class _Version(argparse.Action):
    """``--version``: ``imgstats 0.1.0`` on the first line, as tools parse it, then the code's
    fingerprint (:func:`~imgstats._version.fingerprint`, which keys the service's ETags, Redis
    keys and thumbnails) and the decoders' versions it names. Read only when asked: it digests
    the package and imports the decoders."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ._version import __version__, decoder_versions, fingerprint

        _output(f"imgstats {__version__}\nfingerprint {fingerprint()} ({decoder_versions()})\n")
        parser.exit()


_STATS_EPILOG = """\
examples:
  imgstats stats photo.jpg median
  imgstats stats scan.tif min p1 p99 max --format table
  imgstats stats 'photos/*.jpg' 'https://example.org/img/*.png' median
  imgstats stats dem.tif mean --window 0,0,512,512 --format json

A source is a path, an fsspec URL (file://, https://, s3://, gs://) or a quoted pattern of
either ('*', '?', '[abc]'; '**' for any depth). Several sources, or a pattern, count as one
set of samples. Statistics equal numpy's on the same samples: percentiles are
numpy.percentile's linear method, NaN is ignored, the mean is exact then rounded."""


def _with_valid_option(parser: argparse.ArgumentParser, where: str = "") -> None:
    """``--with-valid``: an opt-in member, so that output read key by key keeps its shape."""
    parser.add_argument(
        "--with-valid",
        action="store_true",
        help="also print valid, which rule decided the samples counted: "
        f'{{"mask", "nodata", "source"}} as the service answers it{where} (default: left out)',
    )


#: The options of reading one image, shared by ``stats`` and ``histogram``.
_IMAGE_OPTIONS = {
    "--band": dict(
        type=_band,
        default=None,
        metavar="BAND",
        help="a band index (0, -1) or name (R, G, B...), or luma (8-bit RGB) "
        "(default: every sample of every band)",
    ),
    "--window": dict(
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="only the pixels x0 <= x < x1, y0 <= y < y1, clipped to the image "
        "(default: the whole image)",
    ),
    "--page": dict(
        type=_page,
        default=None,
        metavar="N",
        help="page of a multi-page TIFF or frame of an animation (default: 0, the first)",
    ),
    "--raw": dict(
        action="store_true",
        help="count every sample: ignore the file's nodata, mask and alpha "
        "(default: honour them, as GDAL does)",
    ),
    "--nodata": dict(
        default=None,
        metavar="VALUE",
        help="samples equal to VALUE do not count, in place of the file's nodata and mask "
        "(default: the file's)",
    ),
    "--palette": dict(
        choices=("rgb", "index"),
        default=None,
        help="a palette image's colours (rgb) or its class indices (index, as GDAL reads a "
        "paletted TIFF) (default: rgb)",
    ),
    "--bbox": dict(
        default=None,
        metavar="MINX,MINY,MAXX,MAXY",
        help="only the pixels whose centre lies in this box of map coordinates, in the "
        "raster's CRS or --crs (default: the whole image)",
    ),
    "--crs": dict(
        default=None,
        help="CRS of --bbox, e.g. EPSG:4326; reprojecting needs the geo extra "
        "(default: the raster's)",
    ),
    "--pixel-limit": dict(
        type=_positive,
        default=None,
        metavar="PIXELS",
        help="refuse images that declare more pixels "
        "(default: IMGSTATS_PIXEL_LIMIT, else 2**30 = 1073741824)",
    ),
    "--chunks": dict(
        default=None,
        metavar="CHUNKS",
        help="read through dask in these chunks: auto, 2048, 512,512 (y,x) or 64MiB "
        "(default: chosen by the image's size)",
    ),
}


def _image_options(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the :data:`_IMAGE_OPTIONS` named ``names`` to ``parser``, in that order."""
    for name in names:
        parser.add_argument(name, **_IMAGE_OPTIONS[name])


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``imgstats`` command."""
    parser = argparse.ArgumentParser(
        prog="imgstats",
        description="Exact image statistics: min, max, mean, median and any percentile pXXX,\n"
        "equal to numpy's, of image files, URLs and patterns of them.",
        epilog="examples:\n"
        "  imgstats stats photo.jpg median p99\n"
        "  imgstats histogram dem.tif --bins 50\n"
        "  imgstats zonal dem.tif fields.geojson mean --crs EPSG:4326\n"
        "  imgstats serve --images photos/\n\n"
        "'imgstats COMMAND --help' describes a command and its options.",
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--version",
        action=_Version,
        help="print the version, then the fingerprint that keys the service's cached answers",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stats = sub.add_parser(
        "stats",
        help="print statistics of images (files, URLs, patterns), counted as one set",
        usage="imgstats stats [options] SOURCE [SOURCE ...] FUNC [FUNC ...]",
        description="Print statistics of one image, or of several counted as one set of\n"
        "samples: one 'FUNC VALUE' line per statistic (see --format).",
        epilog=_STATS_EPILOG,
        formatter_class=_Formatter,
    )
    stats.set_defaults(_parser=stats)
    stats.add_argument(
        "source",
        metavar="SOURCE",
        help="an image path, URL or quoted pattern ('photos/*.jpg'); more may follow",
    )
    stats.add_argument(
        "funcs",
        nargs="+",
        metavar="FUNC",
        help=", ".join(NAMED_FUNCTIONS) + " or pXXX, a percentile from p0 to p100 (p99.9)",
    )
    _image_options(stats, "--band", "--window")
    stats.add_argument(
        "--method",
        default=None,
        metavar="METHOD",
        help="numpy's percentile method of every pXXX: "
        + ", ".join(QUANTILE_METHODS)
        + "; median is numpy.median whatever the method (default: linear)",
    )
    _image_options(stats, "--page", "--raw", "--nodata", "--palette")
    stats.add_argument(
        "--scaled",
        action="store_true",
        help="statistics of the physical values value * scale + offset, with each band's "
        "scale and offset from the file's GDAL metadata (default: the stored values)",
    )
    stats.add_argument(
        "--scale",
        default=None,
        metavar="S",
        help="this scale in place of the file's; implies --scaled (default: the file's, or 1)",
    )
    stats.add_argument(
        "--offset",
        default=None,
        metavar="O",
        help="this offset in place of the file's; implies --scaled (default: the file's, or 0)",
    )
    _image_options(stats, "--bbox", "--crs")
    stats.add_argument(
        "--format",
        choices=FORMATS,
        default=None,  # text; None tells a --format given from none (see _formats)
        help="text: one 'FUNC VALUE' line each; csv: a header line and one row each; "
        "json: one object (null for NaN and infinities); table: aligned columns "
        "(default: text)",
    )
    stats.add_argument("--json", action="store_true", help="the same as --format json")
    _with_valid_option(stats)
    _image_options(stats, "--pixel-limit", "--chunks")
    stats.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="a progress bar on stderr: auto shows one on a terminal for work likely to "
        "take over a second (default: auto)",
    )

    _histogram_parser(sub)

    zonal = sub.add_parser(
        "zonal",
        help="print statistics per zone of a label raster or of a GeoJSON layer",
        description="One row per zone (label, or polygon feature in pixel coordinates unless "
        "--crs), one column per function plus count, as CSV (or JSON) on stdout. Empty zones "
        "have count 0 and empty values.",
    )
    zonal.set_defaults(_parser=zonal)
    zonal.add_argument("source", help="image file or URL")
    zonal.add_argument("zones", help="label raster (file or URL) or a .geojson file")
    zonal.add_argument(
        "funcs", nargs="+", help="min, max, mean, median, count or pXXX, a percentile (p99.9)"
    )
    zonal.add_argument(
        "--band",
        type=_band,
        default=None,
        help="band index or name (default: every sample of every band)",
    )
    zonal.add_argument(
        "--format", choices=("csv", "json"), default=None, help="output format (default: csv)"
    )
    zonal.add_argument("--json", action="store_true", help="the same as --format json")
    _with_valid_option(zonal, ", in each row")
    zonal.add_argument(
        "--background",
        default="0",
        help="label that is no zone, or 'none' to keep every label (default: 0)",
    )
    zonal.add_argument(
        "--id-property",
        default=None,
        help="GeoJSON property holding each feature's zone id "
        "(default: the features' ids when all have one, else their positions)",
    )
    zonal.add_argument(
        "--page",
        type=_page,
        default=None,
        help="page of a multi-page image (default: 0, the first)",
    )
    zonal.add_argument(
        "--crs",
        default=None,
        help="CRS of the GeoJSON's coordinates: 'raster' (the image's own) or e.g. EPSG:4326, "
        "reprojected with pyproj (default: pixel coordinates)",
    )

    serve = sub.add_parser(
        "serve",
        help="run the HTTP service and gallery (needs imgstats[web])",
        description="Serve the JSON API (/stats, /zonal, /api/images, /health, /ready, /docs) and\n"
        "the gallery, under gunicorn (or Flask's development server with --dev).",
        formatter_class=_Formatter,
    )
    serve.set_defaults(_parser=serve)
    serve.add_argument(
        "--images",
        default=None,
        metavar="FOLDER_OR_URL",
        help="the image store: a folder or fsspec URL "
        "(default: IMGSTATS_IMAGES, else the bundled gallery)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 for every interface (default: 127.0.0.1)",
    )
    serve.add_argument("--port", type=int, default=8181, help="port to listen on (default: 8181)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="gunicorn worker processes (default: IMGSTATS_WORKERS, else 2)",
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help="use Flask's development server, one process (default: gunicorn)",
    )
    return parser


_HISTOGRAM_EPILOG = """\
examples:
  imgstats histogram photo.jpg
  imgstats histogram dem.tif --bins 50 --range=-10,4000 --format csv
  imgstats histogram scan.tif --band 0 --window 0,0,512,512 --json

The counts and edges equal numpy.histogram(valid, bins, range) on the valid samples, in the
samples' type (nodata, masked and NaN samples left out, as imgstats stats counts them). A
range whose low edge is negative is given as --range=LO,HI."""


def _histogram_parser(sub) -> None:
    """``imgstats histogram``: numpy.histogram of one image's valid samples."""
    hist = sub.add_parser(
        "histogram",
        help="print numpy.histogram of an image's valid samples: counts and bin edges",
        usage="imgstats histogram [options] SOURCE",
        description="Print the histogram of one image's valid samples, equal to\n"
        "numpy.histogram: one 'LO HI COUNT' line per bin (see --format).",
        epilog=_HISTOGRAM_EPILOG,
        formatter_class=_Formatter,
    )
    hist.set_defaults(_parser=hist)
    hist.add_argument("source", metavar="SOURCE", help="an image path or URL")
    hist.add_argument(
        "--bins",
        default=None,
        metavar="N",
        help="the number of equal bins, 1 to 4096 (default: 10, numpy's)",
    )
    hist.add_argument(
        "--range",
        default=None,
        metavar="LO,HI",
        help="the outer edges; --range=-5,10 for a negative LO "
        "(default: the valid samples' min and max)",
    )
    _image_options(hist, "--band", "--window", "--page", "--raw", "--nodata", "--palette")
    _image_options(hist, "--bbox", "--crs")
    hist.add_argument(
        "--format",
        choices=("text", "csv", "json"),
        default=None,
        help="text: one 'LO HI COUNT' line per bin; csv: a header line lo,hi,count and one "
        'row per bin; json: {"counts": [...], "edges": [...]}, as the service answers it '
        "(default: text)",
    )
    hist.add_argument("--json", action="store_true", help="the same as --format json")
    _image_options(hist, "--pixel-limit", "--chunks")


#: The output formats of ``imgstats stats``.
FORMATS = ("text", "csv", "json", "table")


#: Exit statuses of a shell's job killed by SIGINT (Ctrl-C) and by SIGPIPE (a closed reader).
INTERRUPTED, BROKEN_PIPE = 128 + 2, 128 + 13


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Ctrl-C exits with status 130 and one line on stderr; a reader of stdout that goes away
    (``imgstats zonal ... | head -1``) ends the command quietly with status 141: the shell's
    statuses of a job killed by these signals, without a Python traceback.
    """
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("imgstats: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()
        return BROKEN_PIPE
    except _OutputFailed as exc:
        print(f"imgstats: error: cannot write the output: {exc}", file=sys.stderr)
        _drop_stdout()
        return 2


class _OutputFailed(Exception):
    """Standard output cannot be written: closed (``>&-``), or a full disk (``> /dev/full``)."""


def _output(text: str) -> None:
    """Write ``text`` to stdout and flush it, so that a failing write fails here, as an error
    of ours: the values went nowhere with a closed stdout (status 0), and a full disk was a
    traceback. A reader that went away stays a BrokenPipeError (status 141, quiet)."""
    if sys.stdout is None:  # Python's stdout when file descriptor 1 was closed at start
        raise _OutputFailed("standard output is closed")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _OutputFailed(exc.strerror or str(exc)) from exc


def _drop_stdout() -> None:
    """Point stdout at the null device: the interpreter's last flush at exit then has nowhere
    to fail (Python's documented recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1 if sys.stdout is None else sys.stdout.fileno())
    os.close(devnull)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments of ``argv``; a command's options may come between its positionals.

    ``imgstats stats a.png max --band G median`` was "unrecognized arguments: median" under
    the usage of ``imgstats`` itself: argparse takes a command's positionals in one run. What
    the command leaves is parsed again by the command's parser, options first, which names
    an argument it does not take under its own usage.
    """
    argv = _attach_dashed_values(parser, argv)
    args, extra = parser.parse_known_args(argv)
    if extra:
        rest = argv[argv.index(args.command) + 1 :]
        args = args._parser.parse_intermixed_args(rest, argparse.Namespace(command=args.command))
    return _formats(args)


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """The long options of every command that take one value (``--nodata``, ``--bbox``)."""
    names = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names |= _value_options(sub)
        elif action.nargs is None and action.option_strings:
            names.update(s for s in action.option_strings if s.startswith("--"))
    return names


def _attach_dashed_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--nodata -3.4e+38`` as ``--nodata=-3.4e+38``: the value of an option may begin with
    a dash.

    argparse takes only ``-5`` and ``-0.5`` for a negative number; ``--nodata -3.4e+38``
    (GDAL's float32 nodata), ``--nodata -inf``, ``--offset -1e3`` and ``--bbox
    -10,40,5,50`` were each "expected one argument". The command takes no option of one
    dash but ``-h``, so what follows a value option and begins with one dash is its value.
    """
    options = _value_options(parser)
    out = []
    items = iter(argv)
    for item in items:
        if item == "--":  # the rest are positionals, as written
            out.append(item)
            out.extend(items)
            break
        out.append(item)
        if item in options:
            value = next(items, None)
            if value is None:
                break
            if value.startswith("-") and not value.startswith("--") and value != "-h":
                out[-1] = f"{item}={value}"
            else:
                out.append(value)
    return out


#: The output format of each command without --format or --json.
_DEFAULT_FORMAT = {"stats": "text", "zonal": "csv", "histogram": "text"}


def _formats(args: argparse.Namespace) -> argparse.Namespace:
    """``args.format`` from ``--format`` and ``--json``: both, naming two formats, are a usage
    error (``--json --format csv`` printed JSON, the CSV asked for dropped silently)."""
    if args.command not in _DEFAULT_FORMAT:
        return args
    if args.json and args.format not in (None, "json"):
        args._parser.error(f"--json and --format {args.format} ask for two formats: give one")
    args.format = "json" if args.json else args.format or _DEFAULT_FORMAT[args.command]
    return args


def _run(argv: list[str] | None) -> int:
    """:func:`main` without its handling of Ctrl-C and of a closed stdout."""
    args = _parse(build_parser(), sys.argv[1:] if argv is None else list(argv))
    if args.command == "serve":
        serve = _web_serve(args.dev)
        if serve is None:
            return 2
        try:
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
        except ImgStatsError as exc:  # a bad setting, before the server starts
            _error(str(exc))
            return 2
    if args.command == "zonal":
        return _zonal(args)
    if args.command == "histogram":
        return _histogram(args)
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
        _no_stdin([args.source, args.zones])
        from .zones import zonal

        frame = zonal(
            args.source,
            args.zones,
            list(args.funcs),
            band=args.band,
            background=background if not args.zones.lower().endswith((".geojson", ".json")) else 0,
            id_property=args.id_property,
            crs=args.crs,
            **options,
        )
    except ImgStatsError as exc:
        _error(_cli_words(str(exc), _ZONAL_WORDS))
        return 2
    from .zones import with_sample_types

    valid = frame.attrs.get("valid")  # which samples of the image count, for every zone
    frame = with_sample_types(frame)  # an integer image's min and max print as integers
    if args.format == "json":
        extra = {"valid": valid} if args.with_valid else {}
        rows = [
            {
                "zone": _json_number(_plain(z)),
                **{k: _json_number(_plain(v)) for k, v in r.items()},
                **extra,
            }
            for z, r in frame.to_dict(orient="index").items()
        ]
        _output(json.dumps(rows, allow_nan=False) + "\n")
    else:
        if args.with_valid:  # a column of compact JSON text, as the stats rows print it
            frame = frame.assign(valid=json.dumps(valid, separators=(",", ":")))
        _output(frame.to_csv())
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
        rest[0] == "-"  # standard input: a source, refused as such (_no_stdin)
        or os.path.exists(rest[0])
        or re.search(r"[*?\[/]|\.[A-Za-z][A-Za-z0-9]*$", rest[0])
    ):
        sources.append(rest.pop(0))
    return sources, rest


def _no_stdin(sources: list[str]) -> None:
    """Refuse ``-`` by name: images are read by path or URL, in chunks and more than once,
    never from standard input (it was "no image at -")."""
    if "-" in sources:
        from .errors import InvalidOption

        raise InvalidOption(
            "'-' (standard input) is not read: give the image's path or URL, or save what you "
            "pipe to a file first"
        )


def _expand(sources: list[str]) -> list[str]:
    """Expand path and URL patterns (sorted, see :mod:`imgstats._patterns`); keep the rest."""
    from ._patterns import expand, is_pattern

    out = []
    for src in sources:
        out.extend(expand(src) if is_pattern(src) else [src])
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


def _read_options(args, names=("nodata", "bbox", "crs", "palette")) -> dict:
    """The io options of the image options given (:data:`_IMAGE_OPTIONS`), and ``names``."""
    options = {"pixel_limit": args.pixel_limit}
    if args.page is not None:
        options["page"] = args.page
    if args.raw:
        options["raw"] = True
    for name in names:
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def _region_options(args, options: dict) -> None:
    """``--chunks`` and ``--window`` into ``options``, checked (an error is the user's)."""
    if args.chunks is not None:
        options["chunks"] = _chunks(args.chunks)
    if args.window is not None:
        from .regions import parse_window

        options["window"] = parse_window(args.window)


def _histogram(args) -> int:
    """``imgstats histogram``: print :func:`imgstats.histogram` of one image."""
    from ._histogram import histogram

    options = _read_options(args)
    try:
        _region_options(args, options)
        _no_stdin([args.source])
        answer = histogram(args.source, args.bins, args.range, args.band, **options)
    except ImgStatsError as exc:
        _error(_cli_words(str(exc)))
        return 2
    _output(render_histogram(answer, args.format))
    return 0


def render_histogram(answer: dict, fmt: str) -> str:
    """``{"counts", "edges"}`` as ``imgstats histogram --format fmt`` prints it."""
    if fmt == "json":
        return json.dumps(answer) + "\n"
    edges, counts = answer["edges"], answer["counts"]
    bins = zip(edges[:-1], edges[1:], counts, strict=True)
    rows = [(repr(lo), repr(hi), str(n)) for lo, hi, n in bins]
    if fmt == "csv":
        return "".join(",".join(row) + "\n" for row in [("lo", "hi", "count"), *rows])
    return "".join(" ".join(row) + "\n" for row in rows)


def _stats(args) -> int:
    from .reduce import answer_and_valid

    options = _read_options(args, ("nodata", "bbox", "crs", "scale", "offset", "palette"))
    if args.scaled:
        options["scaled"] = True
    try:
        sources, funcs = _split_sources(args.source, list(args.funcs))
        if not funcs:
            from .errors import InvalidOption

            raise InvalidOption(
                "give at least one FUNC after the sources: "
                + ", ".join(NAMED_FUNCTIONS)
                + " or pXXX"
            )
        _region_options(args, options)
        _no_stdin(sources)
        sources = _expand(sources)
        # auto: one bar on a terminal, when the pixels likely take over a second
        auto = "auto" if sys.stderr.isatty() else False
        progress = {"always": True, "never": False}.get(args.progress, auto)
        with _skipped_told():
            values, valid = answer_and_valid(
                sources[0] if len(sources) == 1 else sources,
                funcs,
                args.band,
                progress=progress,
                method=args.method,
                **options,
            )
    except ImgStatsError as exc:
        _error(_cli_words(str(exc)))
        return 2
    extra = {"valid": _valid_dict(valid)} if args.with_valid else {}
    _output(render(values, args.format, **extra))
    return 0


@contextlib.contextmanager
def _skipped_told():
    """Within this block, the files a pattern matched that are no image, which the
    collection left out (:class:`~imgstats.errors.SkippedFiles`), are told on stderr in one
    line each, as the CLI's errors are: ``imgstats: warning: ...``."""
    import warnings

    from .errors import SkippedFiles

    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SkippedFiles)
            yield
    finally:
        for w in caught:  # the others as Python tells them, once this block's filter is gone
            if issubclass(w.category, SkippedFiles):
                print(f"imgstats: warning: {w.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _valid_dict(valid) -> dict | None:
    """``Summary.valid`` as JSON gives it (``None``: the images count by different rules)."""
    return None if valid is None else valid.as_dict()


def render(values: dict, fmt: str, **extra) -> str:
    """``{func: value}`` as ``imgstats stats --format fmt`` prints it (with a final newline).

    ``extra`` members (``valid=``, asked for by ``--with-valid``) follow the values: in
    JSON as members, in the other formats as rows whose value is compact JSON text.
    """
    if fmt == "json":
        # NaN and infinities have no JSON spelling: null, as the web API answers
        body = {name: _json_number(v) for name, v in values.items()}
        body.update(extra)
        return json.dumps(body, allow_nan=False) + "\n"
    rows = [(str(name), _text(value)) for name, value in values.items()]
    rows += [(name, json.dumps(value, separators=(",", ":"))) for name, value in extra.items()]
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("func", "value"))
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "table":
        rows = [("func", "value"), *rows]
        width = max(len(name) for name, _ in rows)
        value_width = max(len(value) for _, value in rows)
        lines = [f"{name:<{width}}  {value:>{value_width}}" for name, value in rows]
        lines.insert(1, f"{'-' * width}  {'-' * value_width}")
        return "\n".join(lines) + "\n"
    return "".join(f"{name} {value}\n" for name, value in rows)


#: Python's words in the library's messages, and the command line's for them.
_CLI_WORDS = [
    (", 'luma' or None", ", or luma (leave --band out for every sample)"),
    ("ask for band=None", "leave --band out"),
    ("raw=True counts every sample: it takes no nodata", "--raw counts every sample: no --nodata"),
    ("pass one nodata= value, or raw=True", "pass one --nodata value, or --raw"),
    ("band='luma'", "--band luma"),
    ("page must be", "--page must be"),
    ("over the limit of", "over --pixel-limit"),
    ("band=", "--band "),
]


#: The words of :data:`_CLI_WORDS` that ``imgstats zonal`` has options for (it has no
#: ``--raw``, ``--nodata`` or ``--pixel-limit``).
_ZONAL_WORDS = [
    pair for pair in _CLI_WORDS if not pair[1].startswith(("--raw", "pass one", "over --pixel"))
]


def _cli_words(message: str, words: list[tuple[str, str]] = _CLI_WORDS) -> str:
    """A library message in the command line's words (``--band luma``, not ``band='luma'``)."""
    return reword(message, words)


#: C0 and C1 control characters (a newline in a file's name), and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _error(message: str) -> None:
    """Print ``imgstats: error: message`` on one line of stderr: a control character (a file
    named ``a<newline>b.png``) as its escape, ``\\n``, which split the line in two."""
    one_line = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), message)
    print(f"imgstats: error: {one_line}", file=sys.stderr)


def _text(value) -> str:
    """A value as text: ``value_counts`` (a dict) as one compact JSON object."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _json_number(value):
    """``None`` for NaN and infinities, else the value."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
