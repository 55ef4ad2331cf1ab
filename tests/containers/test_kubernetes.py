"""The rendered Kubernetes manifests' licenceflow containers, run from the built image as their
pods would run them, on the host network (tests/deploy checks the same manifests offline).

Each Deployment's container gets its args, its environment (the ConfigMap and the Secret, with
the addresses moved to this machine's PostgreSQL and a Redis of the test's own, a real secret,
and the port moved to a free one), and its pod's security context and limits: user and group,
a read-only root file system with its emptyDir volumes as tmpfs, no capabilities, no privilege
escalation, its memory and CPU limits. The migrate Job runs first, the same way. Then every
probe's path answers on the port it names, the preStop command exists, and each process without
a probe shows that it works: a worker ready, the scheduler started, the projector's heartbeat
in Redis."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from licenceflow.metrics import telemetry
from tests.containers.launcher import Container, InImage
from tests.deploy.test_manifests import env_sources, k8s_env, pod_template, render
from tests.polling import eventually
from tests.private_redis import PrivateRedis, free_port

pytestmark = pytest.mark.containers

Doc = dict[str, Any]
SECRET = "kubernetes-test-secret-" + "x" * 32
# What a container without probes logs once it works (the projector's sign is in Redis).
WORKING = {"worker": "ready.", "scheduler": "beat: Starting"}
QUANTITY = re.compile(r"^(\d+)(Mi|Gi)$")


class Workload:
    """One licenceflow container of the render, as `docker run` flags."""

    def __init__(self, doc: Doc, container: Doc, env: dict[str, str]) -> None:
        self.name = doc["metadata"]["name"]
        self.kind = doc["kind"]
        self.container = container
        self.args: list[str] = container.get("args") or []
        self.env = env
        self.flags = list(security_flags(pod_template(doc)["spec"], container))

    def probes(self) -> list[tuple[str, Doc]]:
        kinds = ("startupProbe", "livenessProbe", "readinessProbe")
        return [(kind, self.container[kind]) for kind in kinds if kind in self.container]


def security_flags(pod: Doc, container: Doc) -> Iterator[str]:
    context = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    if "runAsUser" in context:
        yield f"--user={context['runAsUser']}:{context.get('runAsGroup', context['runAsUser'])}"
    if context.get("readOnlyRootFilesystem"):
        yield "--read-only"
    for capability in (context.get("capabilities") or {}).get("drop") or []:
        yield f"--cap-drop={capability}"
    if context.get("allowPrivilegeEscalation") is False:
        yield "--security-opt=no-new-privileges"
    empty_dirs = {v["name"] for v in pod.get("volumes") or [] if "emptyDir" in v}
    for mount in container.get("volumeMounts") or []:
        if mount["name"] in empty_dirs:
            yield f"--tmpfs={mount['mountPath']}:rw,mode=1777"
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        amount, unit = QUANTITY.match(limits["memory"]).groups()  # type: ignore[union-attr]
        yield f"--memory={amount}{'m' if unit == 'Mi' else 'g'}"
    if "cpu" in limits:
        cpu = str(limits["cpu"])
        yield f"--cpus={int(cpu[:-1]) / 1000 if cpu.endswith('m') else float(cpu)}"


def workloads(database_url: str, redis_url: str, port: int) -> list[Workload]:
    docs = render()
    configmaps, secrets = env_sources(docs)
    moved = {
        "LICENCEFLOW_DATABASE_URL": database_url,
        "LICENCEFLOW_REDIS_URL": redis_url,
        "LICENCEFLOW_JWT_SECRET": SECRET,
        "LICENCEFLOW_METRICS_TOKEN": "kubernetes-test-metrics-token",  # the secret's placeholder
        "LICENCEFLOW_PORT": str(port),
    }
    found = []
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in pod_template(doc)["spec"]["containers"]:
            env, problems = k8s_env(container, configmaps, secrets)
            assert not problems, problems
            values = {k: v for k, v in env.items() if v is not None}
            found.append(Workload(doc, container, {**values, **moved}))
    return found


@pytest.mark.timeout(600)
async def test_every_deployment_runs_from_the_image_as_its_pod_would(
    image: str, empty_database: str, private_redis: PrivateRedis
) -> None:
    port = free_port()  # the api's containerPort 8000, moved
    found = workloads(empty_database, private_redis.url, port)
    jobs = [w for w in found if w.kind == "Job"]
    deployments = [w for w in found if w.kind == "Deployment"]
    assert [j.args for j in jobs] == [["migrate"]]
    assert {d.args[0] for d in deployments} == {"serve", "worker", "scheduler", "projector"}
    for job in jobs:
        code, out = InImage(image, job.env, *job.flags).run(*job.args)
        assert code == 0, f"Job/{job.name} exited {code}:\n{out}"

    running: dict[str, tuple[Workload, Container]] = {}
    try:
        for workload in deployments:
            started = InImage(image, workload.env, *workload.flags).start(*workload.args)
            running[workload.name] = (workload, started)
        async with httpx.AsyncClient(timeout=5) as http:
            for workload, container in running.values():
                await works(workload, container, http, port, private_redis.url)
    finally:
        logs = {name: container.output() for name, (_, container) in running.items()}
        codes = {name: container.stop() for name, (_, container) in running.items()}
    stopped = {name: code for name, code in codes.items() if code not in {0, 143}}
    assert not stopped, f"exit codes {stopped}:\n{logs}"


async def works(
    workload: Workload, container: Container, http: httpx.AsyncClient, port: int, redis_url: str
) -> None:
    where = f"Deployment/{workload.name}"

    def alive() -> None:
        assert container.alive(), f"{where} exited:\n{container.output()[-3000:]}"

    for kind, probe in workload.probes():
        action = probe.get("httpGet")
        assert action is not None, f"{where} {kind}: only httpGet probes are run here"
        url = f"http://127.0.0.1:{port}{action['path']}"

        async def answers(url: str = url) -> bool:
            alive()
            try:
                return (await http.get(url)).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answers, f"{where} {kind} {url}", deadline=90)
    pre_stop = ((workload.container.get("lifecycle") or {}).get("preStop") or {}).get("exec")
    if pre_stop:
        done = await asyncio.to_thread(
            subprocess.run,
            ["docker", "exec", container.id, *pre_stop["command"]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{where} preStop {pre_stop['command']}: {done.stderr}"
    command = workload.args[0]
    if command in WORKING:

        def logged() -> bool:
            alive()
            return WORKING[command] in container.output()

        await eventually(logged, f"{where} logging {WORKING[command]!r}", deadline=90)
    elif command == "projector":
        client = aioredis.from_url(redis_url)
        try:

            async def heartbeat() -> bool:
                alive()
                return bool(await client.hexists(telemetry.KEY, "projector_heartbeat"))

            await eventually(heartbeat, f"{where}'s heartbeat in Redis", deadline=90)
        finally:
            await client.aclose()
