"""The image is built from the Dockerfile and run as Kubernetes would run it.

Built with Debian's `buildah` (`--isolation chroot`: OCI runtimes cannot set rlimits on the
CI machines) from a Debian bookworm base made with `debootstrap` (python3.11 from Debian,
passed through the Dockerfile's PYTHON_IMAGE argument: Docker Hub is not reachable here).
The built root filesystem then runs `govhub migrate` and `govhub run` as uid 10001 with a
read-only root (a read-only bind mount, tmpfs at /tmp and GOVHUB_HOME, as the chart's
emptyDirs) under chroot, and answers /readyz against the machine's PostgreSQL.

Slow (a few minutes from nothing): `.ci/run` runs it as its own step after `make test`
(GOVHUB_TEST_IMAGE=1 selects it). The debootstrap root is cached under
GOVHUB_IMAGE_CACHE (default /var/tmp/govhub-image-cache) for repeated local runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from govhub_common import testing
from govhub_common.testing import free_port
from tests.deploy.support import ROOT, missing_tool

pytestmark = [pytest.mark.image, pytest.mark.slow, pytest.mark.timeout(2400)]

CACHE = Path(os.environ.get("GOVHUB_IMAGE_CACHE", "/var/tmp/govhub-image-cache"))
SUITE = "bookworm"
MIRROR = os.environ.get("GOVHUB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = "python3.11,python3.11-venv,python3-distutils,ca-certificates"
BASE_IMAGE = "localhost/govhub-test-base:bookworm"
IMAGE = "localhost/govhub:test"
UID = 10001


def run(*args: str, timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert result.returncode == 0, (
        f"{' '.join(args)}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in ("buildah", "debootstrap", "chroot", "mount"):
        if shutil.which(tool) is None:
            missing_tool(f"{tool} not found: install it with `bash .ci/deploy-tools.sh`")
    if os.geteuid() != 0:
        missing_tool("building and mounting the image needs root (CI runs as root)")


def debootstrap_root() -> Path:
    """A bookworm root with python3.11, made once and cached."""
    rootfs = CACHE / f"{SUITE}-python3.11"
    if (rootfs / ".complete").exists():
        return rootfs
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / f"{SUITE}-python3.11.partial"
    shutil.rmtree(partial, ignore_errors=True)
    run(
        "debootstrap",
        "--variant=minbase",
        # python3.11-venv's dependencies, which debootstrap does not resolve by itself.
        f"--include={BASE_PACKAGES},python3-pip-whl,python3-setuptools-whl",
        SUITE,
        str(partial),
        MIRROR,
        timeout=1200,
    )
    (partial / ".complete").touch()
    shutil.rmtree(rootfs, ignore_errors=True)
    partial.rename(rootfs)
    return rootfs


@pytest.fixture(scope="module")
def base_image(tools: None) -> str:
    """The debootstrap root as an image. It trusts what this machine trusts (a proxy's CA
    may sit between it and PyPI), so pip and uv in the build reach PyPI as the host does."""
    rootfs = debootstrap_root()
    ctr = run("buildah", "from", "scratch").stdout.strip()
    try:
        mnt = Path(run("buildah", "mount", ctr).stdout.strip())
        run("cp", "-a", f"{rootfs}/.", str(mnt))
        (mnt / ".complete").unlink(missing_ok=True)
        host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if host_bundle.exists():
            shutil.copyfile(host_bundle, mnt / "etc/ssl/certs/ca-certificates.crt")
        run("buildah", "umount", ctr)
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        run(
            "buildah",
            "config",
            "--env",
            f"SSL_CERT_FILE={bundle}",
            "--env",
            f"PIP_CERT={bundle}",
            ctr,
        )
        run("buildah", "commit", "--quiet", ctr, BASE_IMAGE)
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)
    return BASE_IMAGE


@pytest.fixture(scope="module")
def image(base_image: str) -> dict[str, object]:
    """`docker build --build-arg PYTHON_IMAGE=...`, with buildah; the image's config."""
    run(
        "buildah",
        "build",
        "--isolation",
        "chroot",
        "--layers",
        "--build-arg",
        f"PYTHON_IMAGE={base_image}",
        "--tag",
        IMAGE,
        str(ROOT),
        timeout=1800,
    )
    inspect = json.loads(run("buildah", "inspect", "--type", "image", IMAGE).stdout)
    return dict(inspect["OCIv1"]["config"])


@contextlib.contextmanager
def read_only_root(image: str, home: str) -> Iterator[Path]:
    """The image's root filesystem mounted read-only, writable only at /tmp and GOVHUB_HOME
    (tmpfs owned by the image's user, as the chart's emptyDirs), with /dev and /proc."""
    ctr = run("buildah", "from", "--pull-never", image).stdout.strip()
    mounts: list[Path] = []
    root = Path(run("mktemp", "-d", "/tmp/govhub-image-root.XXXXXX").stdout.strip())
    try:
        mnt = run("buildah", "mount", ctr).stdout.strip()
        run("mount", "--bind", mnt, str(root))
        mounts.append(root)
        run("mount", "-o", "remount,bind,ro", str(root))
        for path, how in (
            ("dev", ["--bind", "/dev"]),
            ("proc", ["-t", "proc", "proc"]),
            ("tmp", ["-t", "tmpfs", "-o", "mode=1777,size=256m", "tmpfs"]),
            (home.lstrip("/"), ["-t", "tmpfs", "-o", f"uid={UID},gid={UID},mode=0750", "tmpfs"]),
        ):
            target = root / path
            run("mount", *how, str(target))
            mounts.append(target)
        yield root
    finally:
        for target in reversed(mounts):
            subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            root.rmdir()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    admin = os.environ.get("GOVHUB_TEST_DATABASE_URL")
    if not admin:
        missing_tool("GOVHUB_TEST_DATABASE_URL is not set: this test needs a PostgreSQL")
    assert admin is not None
    url = asyncio.run(testing.create_test_database(admin, prefix="govhub_image"))
    yield url
    asyncio.run(testing.drop_test_database(admin, url))


def test_the_image_runs_as_10001_on_a_read_only_root(
    image: dict[str, object], database_url: str
) -> None:
    # What Kubernetes takes from the image: its user, entry point and environment.
    assert image["User"] == f"{UID}:{UID}"
    assert image["Entrypoint"] == ["govhub"]
    env: dict[str, str] = {}
    for entry in image["Env"]:  # type: ignore[attr-defined]
        key, _, value = str(entry).partition("=")
        env[key] = value
    assert env["PATH"].startswith("/opt/govhub/venv/bin:")
    home = env["GOVHUB_HOME"]
    assert home == "/var/lib/govhub"
    # The chart's settings: the database by URL, nothing else.
    env["GOVHUB_DATABASE_URL"] = database_url
    env["GOVHUB_LOG_FORMAT"] = "text"

    def in_image(root: Path, *argv: str) -> list[str]:
        return [
            "chroot",
            f"--userspec={UID}:{UID}",
            str(root),
            "/usr/bin/env",
            "-i",
            *(f"{k}={v}" for k, v in env.items()),
            *argv,
        ]

    with read_only_root(IMAGE, home) as root:
        # Nothing but /tmp and GOVHUB_HOME is writable.
        probe = subprocess.run(
            in_image(root, "python3.11", "-c", "open('/opt/govhub/x', 'w')"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert probe.returncode != 0 and "Read-only file system" in probe.stderr, probe.stderr

        migrate = subprocess.run(
            in_image(root, "govhub", "migrate"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

        port = free_port()
        cmd = [str(c) for c in image["Cmd"]]  # type: ignore[attr-defined]
        assert cmd[:3] == ["run", "--target", "all"]
        log = Path(f"/tmp/govhub-image-run-{port}.log")
        with log.open("wb") as out:
            proc = subprocess.Popen(
                in_image(root, "govhub", *cmd, "--host", "127.0.0.1", "--port", str(port)),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 180
            reply = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
                try:
                    reply = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    if reply.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(1)
            assert reply is not None and reply.status_code == 200, log.read_text(errors="replace")
            assert reply.json()["checks"]["database"] == "ok"
            # The server runs as the image's user (chroot execs it in place).
            assert os.stat(f"/proc/{proc.pid}").st_uid == UID
            assert httpx.get(f"http://127.0.0.1:{port}/exchange/healthz").status_code == 200
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.unlink(missing_ok=True)
