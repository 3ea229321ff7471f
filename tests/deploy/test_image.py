"""The image, without a Docker daemon: the Dockerfile's own steps (deploy/image/*.sh) build the
wheel with the project's build backend and install it into a clean virtualenv; then ``serve``
starts from that virtualenv exactly as the Helm chart's container runs it (its command, args and
environment, the mounted files put in a temp dir) against a real PostgreSQL, and answers
``/livez`` and ``/readyz``; the image's HEALTHCHECK script agrees.

The install needs the package registry (pip fetches the build backend and the dependencies), as
``docker build`` does. PyPI answers each package in ~5 s here, so ~65 dependencies cost minutes:
the dependencies are mirrored once per machine into a wheelhouse (``~/.cache``, outside the
repository) and ``install.sh`` then runs against that mirror alone (``PIP_NO_INDEX``,
``PIP_FIND_LINKS``: pip's own settings, the script is unchanged). The first run on a new machine
fills the mirror. The ~900 MB virtualenv goes to a RAM-backed directory when there is one, and
pip skips compiling bytecode (``PIP_NO_COMPILE``): on this shared 2-core machine that takes the
install from ~7 to ~2 minutes.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_support import REPO, one, policy_text, render, serve_container

from workerplane.security.crypto import generate_key
from workerplane.temporal.devserver import free_port

DOCKERFILE = REPO / "Dockerfile"
WHEELHOUSE = Path.home() / ".cache" / "workerplane-image-wheelhouse"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    steps = instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert stages == ["python:${PYTHON_VERSION}-slim AS build", "python:${PYTHON_VERSION}-slim"]
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    [user] = [args for word, args in final if word == "USER"]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    [health] = [args for word, args in final if word == "HEALTHCHECK"]
    assert "/usr/local/bin/healthcheck.py" in health
    [entrypoint] = [json.loads(args) for word, args in final if word == "ENTRYPOINT"]
    objects = render()
    assert entrypoint == ["workerplane", "serve"] == serve_container(objects)["command"]
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert int(user.split(":")[0]) == pod["securityContext"]["runAsUser"]
    runs = [args for word, args in steps if word == "RUN"]
    assert runs[0] == "build-wheel.sh /src /wheels"
    assert runs[1].startswith("install.sh /opt/workerplane /tmp/wheels")


def test_build_context_keeps_what_the_dockerfile_copies() -> None:
    """.dockerignore excludes everything but the sources the COPY lines name."""
    kept = [
        line.removeprefix("!").rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert any(source == k or source.startswith(k + "/") for k in kept), source


@pytest.fixture
def venv_root(tmp_path: Path) -> Iterator[Path]:
    """Where the image's virtualenv is installed: RAM-backed if possible."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(prefix="workerplane-image-", dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy_build_context(target: Path) -> None:
    """What stage 1's COPY lines put in /src."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", target / "src", ignore=ignore)


def _run(script: str, *args: Path, env: dict[str, str]) -> None:
    command = ["sh", str(REPO / "deploy" / "image" / script), *map(str, args)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{shlex.join(command)}:\n{result.stdout}\n{result.stderr}"


def _installs(venv: Path, wheels: Path, env: dict[str, str]) -> bool:
    """Run install.sh; ``False`` when the mirror lacks a dependency (pip found no candidate)."""
    command = ["sh", str(REPO / "deploy" / "image" / "install.sh"), str(venv), str(wheels)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    if result.returncode != 0 and "No matching distribution" not in result.stderr:
        raise AssertionError(f"install.sh:\n{result.stdout}\n{result.stderr}")
    return result.returncode == 0


def _get(url: str) -> tuple[int, dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except OSError:
        return None


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = _get(url)
        if answer is not None and answer[0] == 200:
            return answer
        assert proc.poll() is None, f"serve exited {proc.returncode}:\n{log.read_text()}"
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered 200: {_get(url)}\n{log.read_text()}")


def _chart_environment(root: Path, pg_url: str) -> tuple[list[str], dict[str, str]]:
    """The chart's container args and env, its mounted files recreated under ``root``."""
    objects = render()
    container = serve_container(objects)
    secrets = root / "secrets"
    secrets.mkdir()
    (secrets / "database-url").write_text(pg_url)
    (secrets / "encryption-key").write_text(generate_key())
    policy = root / "policy"
    policy.mkdir()
    (policy / "k8s-policy.yaml").write_text(policy_text(objects))
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    where = {"secrets": secrets, "policy": policy, "tmp": root / "tmp"}

    def local(value: str) -> str:
        for mount_path, volume in mounts.items():
            if value.startswith(mount_path + "/") or value == mount_path:
                return str(where[volume]) + value[len(mount_path) :]
        return value

    port = free_port()
    args = []
    for arg in container["args"]:
        option, _, value = arg.partition("=")
        if option == "--host":
            value = "127.0.0.1"
        elif option == "--port":
            value = str(port)
        args.append(f"{option}={local(value)}")
    env = {e["name"]: local(e["value"]) for e in container["env"] if "value" in e}
    # What the Secret's optional keys would give; the Temporal address points nowhere: readiness
    # needs the database only.
    env["WORKERPLANE_TOKEN"] = "smoke-test-token"
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"
    return args, env


@pytest.mark.integration
@pytest.mark.timeout(1800)  # the first run on a machine fills the wheelhouse from PyPI
def test_the_image_steps_install_a_venv_that_serves(
    tmp_path: Path, venv_root: Path, pg_url: str
) -> None:
    base_python = Path(sys._base_executable).resolve().parent  # no shared venv on PATH
    env = {"PATH": f"{base_python}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    context = tmp_path / "src"
    _copy_build_context(context)
    _run("build-wheel.sh", context, tmp_path / "wheels", env=env)
    [wheel] = (tmp_path / "wheels").glob("workerplane-*.whl")
    venv = venv_root / "venv"
    mirror = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE), "PIP_NO_COMPILE": "1"}
    if not _installs(venv, tmp_path / "wheels", {**env, **mirror}):
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        download = [sys.executable, "-m", "pip", "download", "-d", str(WHEELHOUSE), str(wheel)]
        subprocess.run(download, env=env, capture_output=True, timeout=1500, check=True)
        for stale in WHEELHOUSE.glob("workerplane-*.whl"):  # only the dependencies are mirrored
            stale.unlink()
        shutil.rmtree(venv)
        _run("install.sh", venv, tmp_path / "wheels", env={**env, **mirror})

    args, serve_env = _chart_environment(tmp_path, pg_url)
    (tmp_path / "tmp").mkdir()
    workdir = tmp_path / "workdir"  # not the repository: only the venv can provide workerplane
    workdir.mkdir()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import workerplane; print(workerplane.__file__)"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv))

    log = tmp_path / "serve.log"
    port = next(a for a in args if a.startswith("--port=")).split("=")[1]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "workerplane"), "serve", *args],
            cwd=workdir,
            env={**env, "PATH": f"{venv / 'bin'}:{env['PATH']}", **serve_env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        status, _live = _wait_for(f"http://127.0.0.1:{port}/livez", proc, log)
        assert status == 200
        status, ready = _wait_for(f"http://127.0.0.1:{port}/readyz", proc, log)
        assert ready["database"]["ok"] is True
        check = subprocess.run(
            [str(venv / "bin" / "python"), str(REPO / "deploy" / "image" / "healthcheck.py")],
            env={**env, "WORKERPLANE_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/livez"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "created an API token" not in log.read_text()  # the Secret's token was used
