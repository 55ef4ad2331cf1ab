"""The package as a deployment installs it: `pip install .` without the development extras, into a
fresh virtual environment, then every command run from it (tests/every_command.py). A runtime
dependency that only the development environment happens to have (as `packaging`, which kombu's
Redis transport imports, once was) fails here on any machine, Docker or not."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.every_command import ended, environment, exercise
from tests.integration.conftest import empty_database, private_redis, servers
from tests.private_redis import PrivateRedis, free_port

__all__ = ["empty_database", "private_redis", "servers"]

ROOT = Path(__file__).resolve().parents[2]
# What deploy/Dockerfile copies: the package is installed from these alone.
SOURCES = ("pyproject.toml", "README.md", "services")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a fresh virtual environment holding licenceflow and its runtime
    dependencies only."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    for step in (["install", str(source)], ["check"]):
        done = subprocess.run(
            [*pip, *step], capture_output=True, text=True, timeout=900, check=False
        )
        assert done.returncode == 0, f"pip {step[0]}:\n{done.stdout}{done.stderr}"
    return venv / "bin"


class Process:
    def __init__(self, name: str, command: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"{self.name} ignored SIGTERM:\n{self.output()}") from None


class Installed:
    """`licenceflow ARGS` from the fresh environment, in a folder outside the repository, with
    no variable of the development environment's."""

    def __init__(self, bin_dir: Path, env: dict[str, str], folder: Path) -> None:
        self.binary = str(bin_dir / "licenceflow")
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LICENCEFLOW_", "PYTHON", "VIRTUAL_ENV"))
        }
        self.env = {**inherited, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
        self.folder = folder

    def run(self, *args: str) -> tuple[int, str]:
        return ended([self.binary, *args], env=self.env, cwd=self.folder)

    def start(self, *args: str) -> Process:
        return Process(args[0], [self.binary, *args], self.env, self.folder)


@pytest.mark.timeout(900)
async def test_every_command_runs_from_a_runtime_only_install(
    installed: Path, empty_database: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    port = free_port()
    env = {**environment(empty_database, private_redis.url), "LICENCEFLOW_PORT": str(port)}
    launcher = Installed(installed, env, tmp_path)
    await exercise(launcher, f"http://127.0.0.1:{port}", empty_database)
