"""tasks.py, environment.yml, Dockerfile and compose.yaml agree with pyproject.toml and the brief.

These are the checks that need no container engine; `.ci/run` builds and runs the image and
compose for real with podman."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TASKS = {"serve", "test", "lint", "bench", "notebooks", "docker", "screenshots", "docs"}


def test_invoke_lists_every_task_with_a_one_line_docstring():
    out = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = dict(re.findall(r"^  (\w+)\s+(\S.*)$", out, flags=re.M))
    assert TASKS <= set(listed), out
    assert all(listed[t] for t in TASKS)


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower()


#: conda-forge names of PyPI packages where they differ.
CONDA = {"dask": "dask-core", "redis": "redis-py", "matplotlib": "matplotlib-base"}


def test_environment_yml_has_the_dependencies_and_the_notebook_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    missing = {CONDA.get(_name(r), _name(r)) for r in wanted} - conda
    assert not missing
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip


def test_dockerfile_runs_the_service_as_a_user_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, flags=re.M)
    # one base, pinned by tag (a patch release), optionally by digest too
    assert froms and all(
        re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:\w+)?", f) for f in froms
    )
    assert len(set(froms)) == 1
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^EXPOSE 8181$", text, flags=re.M)
    # readiness, not liveness: a container is healthy once every kernel is loaded
    assert re.search(r"^HEALTHCHECK .*\n?.*127\.0\.0\.1:8181/ready", text, flags=re.M)
    cmd = re.findall(r"^CMD (.+)$", text, flags=re.M)[-1]
    assert '"imgstats", "serve"' in cmd and '"8181"' in cmd and '"--dev"' not in cmd


def test_dockerignore_keeps_the_context_small():
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # an allowlist: everything is ignored but what the Dockerfile copies
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "LICENSE", "requirements/*.txt", "imgstats"}


def test_requirements_pin_every_web_dependency_with_hashes_and_no_addresses():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "requirements" / "web.txt").read_text()
    pinned = {
        _name(line).replace("_", "-") for line in re.findall(r"^[A-Za-z]\S*==\S+", text, flags=re.M)
    }
    wanted = {
        _name(r).replace("_", "-")
        for r in project["dependencies"] + project["optional-dependencies"]["web"]
    }
    assert wanted <= pinned, wanted - pinned
    requirements = re.split(r"\n(?=[A-Za-z])", text.split("\n", 2)[2])
    assert all("--hash=sha256:" in r for r in requirements if r.strip())
    assert "://" not in text


def test_compose_has_the_app_and_redis():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    app, redis = compose["services"]["app"], compose["services"]["redis"]
    assert app["build"] == "."
    assert app["ports"] == ["127.0.0.1:8181:8181"]  # loopback unless the operator opens it
    assert app["environment"]["IMGSTATS_REDIS_URL"] == "redis://redis:6379/0"
    assert "redis" in app["depends_on"]
    assert redis["image"].startswith("redis:")


@pytest.mark.parametrize(
    "path",
    [
        "tasks.py",
        "Dockerfile",
        "compose.yaml",
        "environment.yml",
        "notebooks",
        "requirements",
        ".ci/run",
        ".pre-commit-config.yaml",
        "CONTRIBUTING.md",
    ],
)
def test_no_machine_specific_paths(path):
    files = [ROOT / path] if (ROOT / path).is_file() else sorted((ROOT / path).glob("*"))
    for f in files:
        assert not re.search(r"/(work|home|Users|root)/\w", f.read_text()), f
