"""The base images the container tests run on: the official ones, or local stand-ins.

`LICENCEFLOW_TEST_IMAGES` chooses: `official` (python:3.11-slim, postgres:16-alpine,
redis:7-alpine, locustio/locust: what deploy/Dockerfile and docker-compose.yml name by default),
`standin`, or `auto` (the default: official when the engine has them or can pull them, else
stand-ins).

The stand-ins are built here from Debian's packages, for machines that reach no container
registry: a Debian root file system made by `debootstrap` (trusting this machine's certificate
authorities, so that a build behind its proxy reaches the package index) imported as an image,
then Python, PostgreSQL, Redis and Locust on top (tests/containers/standins/). They are named
`licenceflow-standin/...` so that nobody mistakes them for the official images. Built once; the
engine keeps them as a cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import msgspec

STANDINS = Path(__file__).with_name("standins")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_SUITE = "bookworm"  # Python 3.11, PostgreSQL 15, Redis 7
DEBIAN_MIRROR = os.environ.get("LICENCEFLOW_DEBIAN_MIRROR", "http://deb.debian.org/debian")
LOCUST_VERSION = "2.47.0"
PREFIX = "licenceflow-standin"


class Images(msgspec.Struct, frozen=True):
    kind: str  # "official" or "standin"
    python: str
    postgres: str
    redis: str
    locust: str


OFFICIAL = Images(
    kind="official",
    python="python:3.11-slim",
    postgres="postgres:16-alpine",
    redis="redis:7-alpine",
    locust=f"locustio/locust:{LOCUST_VERSION}",
)
STANDIN = Images(
    kind="standin",
    python=f"{PREFIX}/python:3.11",
    postgres=f"{PREFIX}/postgres:15",
    redis=f"{PREFIX}/redis:7",
    locust=f"{PREFIX}/locust:{LOCUST_VERSION}",
)
DEBIAN = f"{PREFIX}/debian:{DEBIAN_SUITE}"


def docker(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`docker ARGS`; raises with its output when it fails."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def present(image: str) -> bool:
    return (
        subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, check=False
        ).returncode
        == 0
    )


def pullable(image: str) -> bool:
    if present(image):
        return True
    try:
        pulled = subprocess.run(
            ["docker", "pull", "--quiet", image], capture_output=True, timeout=600, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return pulled.returncode == 0


def chosen() -> Images:
    """The images this run uses (`LICENCEFLOW_TEST_IMAGES`), built or pulled as needed."""
    choice = os.environ.get("LICENCEFLOW_TEST_IMAGES", "auto")
    if choice not in {"auto", "official", "standin"}:
        raise ValueError(f"LICENCEFLOW_TEST_IMAGES={choice!r}: official, standin or auto")
    if choice == "official" or (
        choice == "auto" and all(pullable(image) for image in _images(OFFICIAL))
    ):
        for image in _images(OFFICIAL):
            if not pullable(image):
                raise RuntimeError(f"cannot pull {image} (LICENCEFLOW_TEST_IMAGES=standin?)")
        return OFFICIAL
    build_standins()
    return STANDIN


def _images(images: Images) -> tuple[str, ...]:
    return (images.python, images.postgres, images.redis, images.locust)


def build_standins() -> None:
    """The stand-in images, each built unless the engine already has it."""
    if not present(DEBIAN):
        import_debian()
    built = {"python": DEBIAN, "postgres": DEBIAN, "redis": DEBIAN}
    for name, base in built.items():
        tag = getattr(STANDIN, name)
        if not present(tag):
            build(STANDINS / name, tag, DEBIAN_IMAGE=base)
    if not present(STANDIN.locust):
        build(
            STANDINS / "locust",
            STANDIN.locust,
            PYTHON_IMAGE=STANDIN.python,
            LOCUST_VERSION=LOCUST_VERSION,
        )


def build(context: Path, tag: str, **args: str) -> None:
    flags = [f"--build-arg={name}={value}" for name, value in args.items()]
    docker("build", "--network=host", "--tag", tag, *flags, str(context), timeout=1800)


def import_debian() -> None:
    """A minimal Debian root file system that trusts this machine's certificate authorities,
    imported as the stand-ins' base image."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("the stand-in images need Debian's debootstrap (apt-get install)")
    with tempfile.TemporaryDirectory(prefix="licenceflow-rootfs-") as scratch:
        root = Path(scratch) / DEBIAN_SUITE
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=ca-certificates",
                DEBIAN_SUITE,
                str(root),
                DEBIAN_MIRROR,
            ],
            capture_output=True,
            timeout=900,
            check=True,
        )
        # This machine's authorities (its proxy's among them) join Debian's, and stay through
        # update-ca-certificates in the images built on top.
        local = root / "usr/local/share/ca-certificates/licenceflow-host.crt"
        shutil.copyfile(HOST_CA_BUNDLE, local)
        subprocess.run(
            ["chroot", str(root), "update-ca-certificates"],
            capture_output=True,
            timeout=120,
            check=True,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                ["docker", "import", "-", DEBIAN],
                stdin=tar.stdout,
                capture_output=True,
                check=False,
            )
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr.decode()}")
