"""invoke tasks: the commands people and CI run (``uv run invoke --list``)."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from invoke import Exit, task

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
REPORTS = ROOT / "reports"
#: The kernel the notebooks run on, installed into this environment by :func:`_kernel`.
KERNEL = "imgstats"

#: Small parameters: every notebook in a few minutes on 2 cores (``invoke notebooks``, CI).
SMALL = {
    "0.1-explore-statistics": {},
    "1.0-benchmark-statistics": {"SIZES_MP": [1, 4], "CHUNK_PIXELS": [2**18], "REPEATS": 2},
    "2.0-service-latency": {"WARM": 3},
}
#: Full size (``invoke bench``): the notebook's own defaults, up to the largest size that fits.
FULL = {"1.0-benchmark-statistics": {}}


def _python(*args: str) -> str:
    return shlex.join([sys.executable, *args])


def _kernel(c) -> None:
    """Install a kernelspec that runs this interpreter, so papermill never picks another one."""
    c.run(
        _python(
            "-m",
            "ipykernel",
            "install",
            "--sys-prefix",
            "--name",
            KERNEL,
            "--display-name",
            "Python (imgstats)",
        ),
        hide=True,
    )


def _run_notebooks(
    c, notebooks: dict[str, dict], output: Path, html: bool = True, log_output: bool = False
) -> None:
    """Execute notebooks with papermill into ``output`` (+ HTML); raise Exit if any fails."""
    output.mkdir(parents=True, exist_ok=True)
    _kernel(c)
    # headless, and still drawn into the executed notebooks (plain "Agg" would show nothing)
    env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    failed = []
    for name, params in notebooks.items():
        src = NOTEBOOKS / f"{name}.ipynb"
        dst = output / f"{name}.ipynb"
        params = {"OUTPUT": str(output), **params}
        print(f"==> {name} {json.dumps(params)}", flush=True)
        start = time.perf_counter()
        result = c.run(
            _python(
                "-m",
                "papermill",
                str(src),
                str(dst),
                "--kernel",
                KERNEL,
                "--cwd",
                str(ROOT),
                "--parameters_yaml",
                json.dumps(params),
                "--no-progress-bar",
                *(["--log-output"] if log_output else []),
            ),
            env=env,
            warn=True,
            pty=False,
        )
        seconds = time.perf_counter() - start
        if not result.ok:
            failed.append(name)
        print(f"    {'ok' if result.ok else 'FAILED'} in {seconds:.1f} s -> {dst}", flush=True)
        if html and dst.exists():
            c.run(
                _python(
                    "-m",
                    "jupyter",
                    "nbconvert",
                    "--to",
                    "html",
                    "--log-level",
                    "WARN",
                    str(dst),
                    "--output-dir",
                    str(output),
                ),
                env=env,
                hide="out",
            )
    if failed:
        raise Exit(f"notebooks failed: {', '.join(failed)} (see {output}/*.html)", code=1)


@task(help={"only": "run just the notebooks whose name contains this (e.g. '1.0')"})
def notebooks(c, only=""):
    """Run every notebook with small parameters into reports/ (.ipynb, .html, benchmark.json)."""
    chosen = {k: v for k, v in SMALL.items() if only in k}
    if not chosen:
        raise Exit(f"no notebook matches {only!r}")
    _run_notebooks(c, chosen, REPORTS)
    summary = REPORTS / "benchmark.md"
    if summary.exists():
        print(summary.read_text())


@task(
    help={
        "sizes": "comma-separated megapixels, e.g. '1,4,16' "
        "(default: 1 MP to the largest that fits)",
        "repeats": "timed runs per measurement (default: the notebook's)",
        "output": "output folder (default: reports/)",
    }
)
def bench(c, sizes="", repeats=0, output=""):
    """Run the benchmarks/bench_*.py scripts and the full-size benchmark notebook."""
    params = {}
    if sizes:
        params["SIZES_MP"] = [float(s) if "." in s else int(s) for s in sizes.split(",")]
    if repeats:
        params["REPEATS"] = repeats
    out = Path(output).resolve() if output else REPORTS
    failed = []
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        module = f"benchmarks.{script.stem}"  # the harness is imported as a package
        print(f"==> python -m {module}", flush=True)
        if not c.run(_python("-m", module), warn=True, env={"MPLBACKEND": "Agg"}).ok:
            failed.append(script.name)
    try:
        _run_notebooks(
            c, {name: {**p, **params} for name, p in FULL.items()}, out, log_output=True
        )  # long: show the progress lines as they come
    except Exit:
        failed.append("1.0-benchmark-statistics")
    if (out / "benchmark.md").exists():
        print((out / "benchmark.md").read_text())
    if failed:
        raise Exit(f"benchmarks failed: {', '.join(failed)}", code=1)


@task(
    help={
        "images": "image store: a folder or fsspec URL (default: the bundled gallery)",
        "port": "port to listen on",
        "host": "address to bind",
        "workers": "gunicorn worker processes",
        "dev": "use Flask's development server instead of gunicorn",
    }
)
def serve(c, images="", port=8181, host="127.0.0.1", workers=0, dev=False):
    """Serve the HTTP API and the gallery (imgstats serve, gunicorn)."""
    args = ["-m", "imgstats.cli", "serve", "--port", str(port), "--host", host]
    if images:
        args += ["--images", images]
    if workers:
        args += ["--workers", str(workers)]
    if dev:
        args.append("--dev")
    c.run(_python(*args), pty=sys.stdout.isatty())


@task(
    help={
        "all": "every tier (slow, browser, notebooks), as CI runs them",
        "marker": "a pytest -m expression, e.g. 'slow'",
        "args": "more pytest arguments, e.g. '-x tests/core'",
    }
)
def test(c, all=False, marker="", args=""):
    """Run the tests: the fast tier by default, --all for every tier."""
    cmd = ["-m", "pytest"]
    if marker:
        cmd += ["-m", marker]
    elif not all:
        cmd += ["-m", "not slow and not browser and not notebooks"]
    c.run(_python(*cmd) + (f" {args}" if args else ""), pty=sys.stdout.isatty())


@task
def lint(c):
    """Check the code with ruff and that committed notebooks carry no outputs (nbstripout)."""
    failed = []
    if not c.run(_python("-m", "ruff", "check", str(ROOT)), warn=True).ok:
        failed.append("ruff")
    books = sorted(str(p) for p in NOTEBOOKS.glob("*.ipynb"))
    if books and not c.run(_python("-m", "nbstripout", "--verify", *books), warn=True).ok:
        failed.append("notebooks with outputs (clean them: uv run nbstripout notebooks/*.ipynb)")
    if failed:
        raise Exit(f"lint failed: {'; '.join(failed)}", code=1)


@task(help={"tag": "image tag"})
def docker(c, tag="imgstats:latest"):
    """Build the Docker image (needs a running Docker engine)."""
    if not c.run("docker info", warn=True, hide=True).ok:
        raise Exit(
            "no Docker engine runs here (`docker info` failed): build where one runs, "
            f"with `docker build -t {tag} .` or `docker compose up --build`",
            code=1,
        )
    c.run(f"docker build -t {shlex.quote(tag)} {shlex.quote(str(ROOT))}")


@task(
    help={
        "serve": "preview the site on http://127.0.0.1:8000 and rebuild on changes",
        "output": "folder to build into (default: site/)",
    }
)
def docs(c, serve=False, output=""):
    """Build the documentation site into site/ with --strict: a warning or broken link fails."""
    # Material for MkDocs prints a banner about MkDocs 2 on every run; it says nothing about
    # this site, and CI logs are easier to read without it.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    config = str(ROOT / "mkdocs.yml")
    if serve:
        c.run(_python("-m", "mkdocs", "serve", "--strict", "-f", config), env=env, pty=True)
        return
    args = ["-m", "mkdocs", "build", "--strict", "--clean", "-f", config]
    if output:
        args += ["--site-dir", str(Path(output).resolve())]
    if not c.run(_python(*args), env=env, warn=True).ok:
        raise Exit("the documentation site did not build (warnings fail it: see above)", code=1)


@task(help={"args": "more pytest arguments"})
def screenshots(c, args=""):
    """Take the gallery's screenshots into docs/screenshots (browser tests)."""
    env = {"IMGSTATS_SCREENSHOT_DIR": str(ROOT / "docs" / "screenshots")}
    c.run(
        _python("-m", "pytest", "-m", "browser", str(ROOT / "tests" / "browser"))
        + (f" {args}" if args else ""),
        env=env,
        pty=sys.stdout.isatty(),
    )


@task
def requirements(c):
    """Regenerate requirements/*.txt, the container's pinned versions and hashes, from uv.lock."""
    with c.cd(str(ROOT)):
        c.run(
            "uv export --quiet --format requirements-txt --extra web --no-dev --no-emit-project"
            " -o requirements/web.txt"
        )
        c.run(
            "uv pip compile --quiet --generate-hashes --universal --python-version 3.11"
            " --custom-compile-command 'uv run invoke requirements'"
            " requirements/build.in -o requirements/build.txt"
        )
    for name in ("web.txt", "build.txt"):  # pip would download from any address written here
        if "://" in (ROOT / "requirements" / name).read_text():
            raise Exit(f"requirements/{name} names a download address; it must hold hashes only")
