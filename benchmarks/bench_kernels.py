"""The counting kernels against the memory floor (``a.sum()``) and numpy's best primitive.

Run ``uv run python -m benchmarks.bench_kernels`` (12 MP arrays, 5 timed calls per cell) or
``--size 1 --repeat 2`` for a quick look; ``--before main`` also times the imgstats of another
git revision in the same run (its package is exported to a temporary folder), to print a
before/after table. One markdown table, from one run:

* inputs: per type (uint8, uint16, int16, int32, int64, float32, float64), a random array
  whose other half is clustered (integers) or a heavy-tailed one with 1% NaN (floats), and a
  real photograph or DEM of the bundled gallery resized to the same size (the 32- and 64-bit
  integers: the 16-bit photograph);
* functions: ``median``, ``p99`` and six (min, max, mean, p1, median, p99);
* columns: ``a.sum()`` (one streaming pass: the floor), ``np.partition`` with every wanted
  rank at once (plus min, max and mean for six, read from the partitioned valid samples),
  ``np.percentile`` (``np.nanpercentile`` for floats: NaN is ignored, as imgstats does) and
  ``imgstats.compute``; every imgstats answer is checked against numpy first;
* one core pinned (``taskset -c 0``, ``NUMBA_NUM_THREADS=1``) and every core: each in its own
  child process, so that imgstats' counting threads see only the cores they may use.

Every cell is the best of N calls after one untimed call, the methods of a row called in turn
so that a busy machine slows them alike: read the ratios, not the times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TYPES = ["uint8", "uint16", "int16", "int32", "int64", "float32", "float64"]
FUNCS = {"median": ["median"], "p99": ["p99"], "six": ["min", "max", "mean", "p1", "median", "p99"]}
ROOT = Path(__file__).resolve().parent.parent


# -- inputs ----------------------------------------------------------------------------------
def shape_of(megapixels: float) -> tuple[int, int]:
    """A 4:3 shape of about ``megapixels`` million pixels (12 -> 3000 x 4000)."""
    h = max(2, round(math.sqrt(megapixels * 1e6 * 3 / 4)))
    return h, max(2, round(h * 4 / 3))


def synthetic(dtype: str, shape, seed: int = 0) -> np.ndarray:
    """Integers: half uniform over the type's range, half clustered (a narrow normal),
    interleaved at random. Floats: Student's t with 2 degrees of freedom (heavy tails) times
    100, 1% NaN."""
    rng = np.random.default_rng(seed)
    n = shape[0] * shape[1]
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        span = float(info.max) - float(info.min)
        out = rng.integers(info.min, info.max, n, endpoint=True, dtype=dt)
        clustered = rng.random(n) < 0.5
        centre = float(info.min) + span / 3
        normal = rng.normal(centre, span / 200, int(clustered.sum()))
        out[clustered] = np.clip(np.round(normal), info.min, info.max).astype(dt)
        return out.reshape(shape)
    out = (rng.standard_t(2, n) * 100).astype(dt)
    out[rng.random(n) < 0.01] = np.nan
    return out.reshape(shape)


_GALLERY = {
    "uint8": "IMG_7.jpg",
    "uint16": "IMG_12_uint16.tif",
    "int16": "IMG_14_int16.tif",
    "int32": "IMG_12_uint16.tif",
    "int64": "IMG_12_uint16.tif",
    "float32": "IMG_13_float32.tif",
    "float64": "IMG_13_float32.tif",
}


def real(dtype: str, shape) -> np.ndarray:
    """The gallery's photograph (grey) or DEM of ``dtype`` resized (bilinear) to ``shape``.

    float64 is the float32 DEM resized in float64 with a little float64-only detail, so that
    its low bits are used; NaN stay where the DEM has them (nearest neighbour).
    """
    import tifffile
    from PIL import Image

    from imgstats.data import gallery_path

    path = gallery_path() / _GALLERY[dtype]
    h, w = shape
    if path.suffix == ".jpg":
        img = Image.open(path).convert("L").resize((w, h), Image.Resampling.BILINEAR)
        return np.asarray(img)
    src = tifffile.imread(path).astype(np.float32)
    nan = np.isnan(src)
    src[nan] = np.nanmean(src)
    out = np.asarray(Image.fromarray(src, "F").resize((w, h), Image.Resampling.BILINEAR))
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        return np.clip(np.round(out), info.min, info.max).astype(dt)
    out = out.astype(dt)
    if dt == np.float64:
        out += np.random.default_rng(1).normal(0, 1e-9, out.shape)
    mask = Image.fromarray(nan.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)
    out[np.asarray(mask) > 0] = np.nan
    return out


# -- timing (in a child process) ---------------------------------------------------------------
def _best(fns: dict, repeat: int) -> dict:
    """Best wall time of each function, called in turn, after one untimed call of each."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, math.inf)
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _ranks(n: int, q: float) -> list[int]:
    virtual = (n - 1) * np.true_divide(q, 100)
    lo = math.floor(virtual)
    return [lo] if virtual >= n - 1 else [lo, lo + 1]


def _qs(funcs: list[str]) -> list[float]:
    return [50.0 if f == "median" else float(f[1:]) for f in funcs if f[0] == "p" or f == "median"]


def _partition(flat: np.ndarray, nvalid: int, funcs: list[str]):
    """``np.partition`` with every wanted rank at once; NaN sort last, so the first ``nvalid``
    slots hold the valid samples: min, max and mean are read from those."""
    qs = _qs(funcs)
    kth = sorted({k for q in qs for k in _ranks(nvalid, q)})
    six = "mean" in funcs
    if six:
        kth = sorted({0, nvalid - 1, *kth})

    def run():
        part = np.partition(flat, kth)
        if six:
            return part[0], part[nvalid - 1], part[:nvalid].mean(dtype=np.float64)
        return part[kth[0]]

    return run


def _check(arr: np.ndarray, funcs: list[str], got: dict) -> None:
    valid = arr[~np.isnan(arr)] if arr.dtype.kind == "f" else arr.ravel()
    for f in funcs:
        if f in ("min", "max", "mean"):
            want = getattr(np, f)(valid.astype(np.float64) if f == "mean" else valid).item()
            ok = got[f] == want if f != "mean" else math.isclose(got[f], want, rel_tol=1e-9)
        else:
            q = 50.0 if f == "median" else float(f[1:])
            wide = valid.astype(np.int64) if valid.dtype.kind == "i" else valid
            want = np.percentile(wide, q).item()
            ok = got[f] == want
        if not ok:
            raise SystemExit(f"{arr.dtype} {f}: imgstats {got[f]!r} != numpy {want!r}")


def measure(megapixels: float, repeat: int, types=TYPES, reference: bool = True) -> list[dict]:
    """Time every row in this process; ``reference``: numpy's columns too."""
    import imgstats

    shape = shape_of(megapixels)
    rows = []
    for dtype in types:
        for image, arr in (("random", synthetic(dtype, shape)), ("real", real(dtype, shape))):
            flat = arr.reshape(-1)
            floats = arr.dtype.kind == "f"
            nvalid = int(flat.size - np.isnan(flat).sum()) if floats else flat.size
            for name, funcs in FUNCS.items():
                ask = funcs if name == "six" else funcs[0]
                got = imgstats.compute(arr, funcs)
                _check(arr, funcs, got)
                fns = {"imgstats": lambda ask=ask, arr=arr: imgstats.compute(arr, ask)}
                if reference:
                    qs = _qs(funcs)
                    pct = np.nanpercentile if floats else np.percentile
                    fns = {
                        "sum": arr.sum,
                        "partition": _partition(flat, nvalid, funcs),
                        "percentile": lambda pct=pct, qs=qs, arr=arr: pct(
                            arr, qs if len(qs) > 1 else qs[0]
                        ),
                        **fns,
                    }
                best = _best(fns, repeat)
                # and imgstats alone, call after call: the second core stays awake and the
                # caches hold imgstats' own code (beside numpy's 30-220 ms calls, the second
                # core sleeps between two of imgstats' and wakes in about 0.13 ms, where it
                # takes 0.035 ms awake; imgstats' Python before the first kernel, 0.30 ms
                # after np.partition, takes 0.10 ms after imgstats: 12 MP float32 p99)
                best["imgstats_hot"] = _best({"imgstats": fns["imgstats"]}, repeat)["imgstats"]
                rows.append({"type": dtype, "image": image, "func": name, **best})
    return rows


# -- the parent: one child per (code, cores) ---------------------------------------------------
def _export(rev: str, into: Path) -> Path:
    """The ``imgstats`` package of git revision ``rev``, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "imgstats"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _child(megapixels, repeat, one_core: bool, package: Path | None, reference: bool, types):
    env = dict(os.environ)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child"]
    cmd += ["--size", str(megapixels), "--repeat", str(repeat), "--types", *types]
    if not reference:
        cmd.append("--no-reference")
    if one_core:
        env["NUMBA_NUM_THREADS"] = "1"
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd]
    # the script's folder, not the checkout, is sys.path[0]: imgstats comes from PYTHONPATH
    # (another revision) or from the installed checkout
    paths = ([str(package)] if package else []) + [env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(
    megapixels: float = 12,
    repeat: int = 5,
    before: str | None = None,
    types=TYPES,
    rounds: int = 1,
):
    """Every row on one pinned core and on every core, as a list of dicts (times in s).

    With ``before`` (a git revision), ``imgstats_before`` is that revision's time for the row
    and ``sum_before`` the ``a.sum()`` measured beside it (its ratio's denominator). With
    ``rounds`` above 1, the children (one core, every core, each revision) run again in turn,
    round after round, and every time is its best over the rounds: on a shared machine
    another process's load comes and goes over minutes, and one child per configuration
    would see one moment's load, which a ratio across two children then carries.
    """
    configs = [("1 core", True)]
    if len(os.sched_getaffinity(0)) > 1:
        configs.append((f"{len(os.sched_getaffinity(0))} cores", False))
    best: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        package = _export(before, Path(tmp)) if before else None
        for _ in range(max(1, rounds)):
            for cores, one in configs:
                now = _child(megapixels, repeat, one, None, True, types)
                # the same calls as the first child, numpy's too: timed without them, the
                # other revision kept the array in cache between its calls and looked 15-40%
                # faster than the same code measured beside np.partition (12 rows of uint8
                # and uint16)
                old = _child(megapixels, repeat, one, package, True, types) if package else None
                for i, row in enumerate(now):
                    row["cores"] = cores
                    if old:
                        row["imgstats_before"] = old[i]["imgstats"]
                        row["sum_before"] = old[i]["sum"]
                    key = (cores, i)
                    best[key] = _faster(best[key], row) if key in best else row
    return [
        best[key] for key in sorted(best, key=lambda k: ([c for c, _ in configs].index(k[0]), k[1]))
    ]


def _faster(a: dict, b: dict) -> dict:
    """A row with each time the smaller of ``a``'s and ``b``'s (the other fields ``a``'s)."""
    return {k: min(v, b[k]) if isinstance(v, float) else v for k, v in a.items()}


def table(rows: list[dict], before: str | None = None) -> str:
    """The markdown table of :func:`run`'s rows."""
    head = ["type", "image", "function", "cores", "`a.sum()`", "`np.partition`", "`np.percentile`"]
    if before:
        head += [f"imgstats ({before})", f"÷ `a.sum()` ({before})"]
    head += ["imgstats", "÷ `a.sum()`", "`np.partition` ÷ imgstats"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * (len(head) - 4)]
    for r in rows:
        cells = [r["type"], r["image"], r["func"], r["cores"]]
        cells += [f"{r[k] * 1e3:.1f} ms" for k in ("sum", "partition", "percentile")]
        if before:
            cells += [
                f"{r['imgstats_before'] * 1e3:.1f} ms",
                f"{r['imgstats_before'] / r.get('sum_before', r['sum']):.1f}×",
            ]
        cells += [f"{r['imgstats'] * 1e3:.1f} ms", f"{r['imgstats'] / r['sum']:.1f}×"]
        cells += [f"{r['partition'] / r['imgstats']:.2f}×"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scaling(rows: list[dict], floors: dict | None = None) -> str:
    """A markdown table: how many times faster imgstats answers each row on every core than
    on one pinned core, both measured in this run (issue 20's goal: >= 1.8x for floats):
    timed beside numpy's calls (the table's times), and, when the rows have them, timed call
    after call (``imgstats_hot``: the second core awake, imgstats' code in the caches).

    With ``floors`` (``{type: seconds}``, :func:`bandwidth`'s ``two``: ``a.sum()`` of the
    array's halves on two threads at once), a last column divides the time on every core by
    that floor: how far the answer is from the time two cores take only to read the array.
    Near 1, no kernel can gain more from the second core on this machine."""
    one = {(r["type"], r["image"], r["func"]): r for r in rows if r["cores"] == "1 core"}
    many = [r for r in rows if r["cores"] != "1 core"]
    hot = all("imgstats_hot" in r for r in rows)
    head = "| type | image | function | cores | one core ÷ every core |"
    rule = "|---|---|---|---|---:|"
    if hot:
        head += " call after call |"
        rule += "---:|"
    if floors:
        head += " every core ÷ two-thread `a.sum()` |"
        rule += "---:|"
    lines = [head, rule]
    for r in many:
        base = one[(r["type"], r["image"], r["func"])]
        ratio = base["imgstats"] / r["imgstats"]
        line = f"| {r['type']} | {r['image']} | {r['func']} | {r['cores']} | {ratio:.2f}× |"
        if hot:
            line += f" {base['imgstats_hot'] / r['imgstats_hot']:.2f}× |"
        if floors:
            line += f" {r['imgstats'] / floors[r['type']]:.2f}× |"
        lines.append(line)
    return "\n".join(lines)


def bandwidth(megapixels: float = 12, repeat: int = 5, types=TYPES) -> list[dict]:
    """The memory floor on every core: ``a.sum()`` of an array's two halves, one after the
    other on one thread, then at once on two threads (numpy releases the GIL). A ratio near
    1 means one core already takes the memory bandwidth that a streaming pass can use."""
    from concurrent.futures import ThreadPoolExecutor

    rows = []
    with ThreadPoolExecutor(2) as pool:
        for dtype in types:
            arr = synthetic(dtype, shape_of(megapixels))
            a, b = arr[: arr.shape[0] // 2], arr[arr.shape[0] // 2 :]
            best = _best(
                {
                    "one": lambda a=a, b=b: (a.sum(), b.sum()),
                    "two": lambda a=a, b=b: list(pool.map(np.sum, [a, b])),
                },
                repeat,
            )
            rows.append({"type": dtype, **best})
    return rows


def _busy_kernel():
    """A numba kernel that works like the scan on samples already in L1: a float's key
    (a sign-dependent XOR), the smallest and largest key, and a count of the keys below
    and inside an interval, over a 16 KB array ``reps`` times. No memory traffic: its speed on
    two threads at once shows what a second core adds to work that is bound by the core."""
    import numba

    @numba.njit(nogil=True, cache=False)
    def busy(bits, reps, lo, hi):
        kmin = np.uint32(0xFFFFFFFF)
        kmax = np.uint32(0)
        below = 0
        inside = 0
        for _ in range(reps):
            for i in range(bits.size):
                b = bits[i]
                k = b ^ (np.uint32(0xFFFFFFFF) if b >> 31 else np.uint32(0x80000000))
                kmin = min(kmin, k)
                kmax = max(kmax, k)
                below += k < lo
                inside += (k >= lo) & (k < hi)
        return kmin, kmax, below, inside

    return busy


def ceiling(repeat: int = 5) -> dict:
    """The same core-bound work (:func:`_busy_kernel`, 4096 samples 3,000 times), twice:
    one after the other on one thread, then at once on two threads. A ratio near 2 means two
    independent cores; well below 2, that the two CPUs share one core's execution units (two
    hardware threads of one core, as many 2-vCPU cloud machines have), which caps what any
    kernel bound by the core can gain from the second one."""
    from concurrent.futures import ThreadPoolExecutor

    busy = _busy_kernel()
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(4096).astype(np.float32).view(np.uint32) for _ in range(2)]
    lo, hi = np.uint32(0x80000000), np.uint32(0xBF800000)
    reps = 3000
    with ThreadPoolExecutor(2) as pool:
        return _best(
            {
                "one": lambda: [busy(d, reps, lo, hi) for d in data],
                "two": lambda: list(pool.map(lambda d: busy(d, reps, lo, hi), data)),
            },
            repeat,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=12, help="megapixels per array (12)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per cell (5)")
    parser.add_argument("--before", help="also time the imgstats of this git revision")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every child again in turn, best of all (1)"
    )
    parser.add_argument("--types", nargs="+", default=TYPES, choices=TYPES)
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-reference", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rows = measure(args.size, args.repeat, args.types, not args.no_reference)
        print(json.dumps(rows))
        return
    rows = run(args.size, args.repeat, args.before, args.types, args.rounds)
    h, w = shape_of(args.size)
    rounds = f" in each of {args.rounds} rounds" if args.rounds > 1 else ""
    print(f"{h}x{w} arrays, best of {args.repeat}{rounds}, imgstats from {ROOT.name}")
    print(table(rows, args.before))
    if len(os.sched_getaffinity(0)) > 1:
        floors = bandwidth(args.size, args.repeat, args.types)
        print("\nimgstats on every core against one pinned core (same run):")
        print(scaling(rows, {r["type"]: r["two"] for r in floors}))
        print("\n`a.sum()` of both halves of each array, one thread vs two threads at once:")
        for r in floors:
            print(
                f"- {r['type']}: {r['one'] * 1e3:.1f} ms vs {r['two'] * 1e3:.1f} ms, "
                f"{r['one'] / r['two']:.2f}× faster on two threads"
            )
        c = ceiling(args.repeat)
        print(
            "\nWork bound by the core, not by memory (the scan's steps on samples in L1), twice:"
            f" {c['one'] * 1e3:.1f} ms on one thread vs {c['two'] * 1e3:.1f} ms on two at once,"
            f" {c['one'] / c['two']:.2f}× faster on two threads"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
