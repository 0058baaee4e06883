"""deploy/k8s (the Kubernetes manifests) against docker-compose.yml, the topology and the components' own
parsers, statically: there is no cluster on this machine (docs/k8s.md).

The manifests are read the way Kubernetes reads them (``$(VAR)`` expanded from each container's declared
environment, ConfigMaps mounted as files) into a compose-shaped view, on which the checks of
tests/unit/test_compose.py run unchanged; the rest is Kubernetes' own (Services, the Indexed Job, pods).
Each check returns its problems as strings, so that a check run on a mutated copy of the manifests can be
shown to fail (``test_checks_can_fail``).
"""

from __future__ import annotations

import copy
import posixpath
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

import finesse_emu.cli as emu_cli
import finesse_emu.server.__main__ as node_cli
import tests.unit.test_compose as tc
from finesse_emu.deployment.topology import CTI_A, CTI_B
from finesse_emu.desktop.swarm import directory_agents, parse_slice, take_slice

K8S = tc.ROOT / "deploy" / "k8s"
# Single sign-on, opt-in: the overlay `kubectl apply -k deploy/k8s-sso` (deploy/k8s plus the IdS, both
# nodes in SSO mode, the desktops signing in there), checked against compose's SSO variant.
K8S_SSO = tc.ROOT / "deploy" / "k8s-sso"
DOCS = tc.ROOT / "docs" / "k8s.md"
# The Secret of `finesse-emu secrets DIR` (docs/k8s.md), compose's `secrets` volume: the pods that
# read it mount it read-only at /secrets, and Kubernetes starts none of them before it exists.
SECRET = "finesse-emu-secrets"
KUSTOMIZATION = K8S / "kustomization.yaml"
IMAGE = "finesse-emu:local"
SETTINGS = "finesse-emu-settings"
JOB = "desktops"
SWARM, COLLECT = "swarm", "collect"
INDEX_VAR = "JOB_COMPLETION_INDEX"
INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
API_VERSION = {"Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "Job": "batch/v1"}
# An init container that retries a command until it succeeds: `sh -c SCRIPT NAME COMMAND...`.
WAIT_SCRIPT = 'until "$@"; do sleep 2; done'
# compose's healthcheck timing (x-health) as probe fields.
COMPOSE_TIMING = {"periodSeconds": 2, "timeoutSeconds": 3, "failureThreshold": 3}
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
PORT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

Manifests = dict[str, list[Any]]  # file name -> its YAML documents


# -- loading -----------------------------------------------------------------------------------------
def load_manifests() -> Manifests:
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
        for p in sorted(K8S.glob("*.yaml"))
        if p != KUSTOMIZATION
    }


def load_kustomization() -> dict[str, Any]:
    data = yaml.safe_load(KUSTOMIZATION.read_text())
    assert isinstance(data, dict)
    return data


# Kubernetes' strategic merge patch, for the fields the overlay patches: these lists merge item by item
# on their key (an item new to the list comes first, as kustomize puts it); any other list is replaced.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name"}
MERGE_KEYS["volumeMounts"] = "mountPath"


def strategic_merge(base: Any, patch: Any, key: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = strategic_merge(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        k = MERGE_KEYS[key]
        by_key = {item.get(k): item for item in patch}
        known = {item.get(k) for item in base}
        merged = [strategic_merge(b, by_key[b.get(k)]) if b.get(k) in by_key else b for b in base]
        return [item for item in patch if item.get(k) not in known] + merged
    return patch


def load_sso_manifests() -> Manifests:
    """deploy/k8s-sso as kustomize builds it: deploy/k8s, its own resources, its patches applied."""
    kust = yaml.safe_load((K8S_SSO / "kustomization.yaml").read_text())
    m = load_manifests()
    for res in kust.get("resources") or []:
        if res != "../k8s":
            m[f"k8s-sso/{res}"] = [d for d in yaml.safe_load_all((K8S_SSO / res).read_text()) if d]
    for patch in kust.get("patches") or []:
        for doc in yaml.safe_load_all((K8S_SSO / patch["path"]).read_text()):
            target = find(m, doc["kind"], doc["metadata"]["name"])
            assert target is not None, f"{patch['path']} patches no object of deploy/k8s"
            merged = strategic_merge(target, doc)
            target.clear()
            target.update(merged)
    return m


@pytest.fixture
def manifests() -> Manifests:
    return load_manifests()


@pytest.fixture
def sso_manifests() -> Manifests:
    return load_sso_manifests()


def objects(m: Manifests) -> list[dict[str, Any]]:
    return [d for docs in m.values() for d in docs if isinstance(d, dict)]


def find(m: Manifests, kind: str, name: str) -> dict[str, Any] | None:
    return next(
        (o for o in objects(m) if o.get("kind") == kind and (o.get("metadata") or {}).get("name") == name),
        None,
    )


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(pod: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in pod.get("containers") or [] if c.get("name") == name), None)


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def configmap_data(m: Manifests, name: str) -> dict[str, str] | None:
    cm = find(m, "ConfigMap", name)
    return None if cm is None else {str(k): str(v) for k, v in (cm.get("data") or {}).items()}


# -- Kubernetes' reading of a container --------------------------------------------------------------
def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of command, args and env values: ``$$`` is ``$``, a declared
    variable is replaced, anything else (an undeclared ``$(X)``) stays as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if text.startswith("$(", i) and (end := text.find(")", i + 2)) != -1:
            name = text[i + 2 : end]
            out.append(env.get(name, text[i : end + 1]))
            i = end + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def container_env(
    c: dict[str, Any], m: Manifests, fields: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The variables the container declares, resolved: values, ConfigMap keys, downward API ``fields``."""
    env: dict[str, str] = {}
    problems = []
    for var in c.get("env") or []:
        name = str(var.get("name"))
        source = var.get("valueFrom") or {}
        if "value" in var:
            env[name] = expand(str(var["value"]), env)
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = configmap_data(m, ref.get("name")) or {}
            if ref.get("key") in data:
                env[name] = data[ref["key"]]
            else:
                problems.append(
                    f"{c.get('name')}: {name} from ConfigMap {ref.get('name')}/{ref.get('key')}: none"
                )
        elif "fieldRef" in source:
            path = source["fieldRef"].get("fieldPath")
            if path in fields:
                env[name] = fields[path]
            else:
                problems.append(f"{c.get('name')}: {name} from field {path}, which this pod does not have")
        else:
            problems.append(f"{c.get('name')}: {name} has no value")
    return env, problems


def argv(
    c: dict[str, Any], m: Manifests, fields: Mapping[str, str] | None = None
) -> tuple[list[str], list[str]]:
    """(the container's command line as it runs, problems). Compose's ``command`` is the image's CMD,
    which is Kubernetes' ``args`` (``command`` would replace the image's entrypoint)."""
    env, problems = container_env(c, m, fields or {})
    if "command" in c:
        problems.append(f"{c.get('name')}: command replaces the image's entrypoint: give args, like compose")
    return [expand(str(a), env) for a in c.get("args") or []], problems


def exec_probe(c: dict[str, Any], kind: str) -> list[str] | None:
    probe = c.get(kind) or {}
    cmd = (probe.get("exec") or {}).get("command")
    return [str(a) for a in cmd] if isinstance(cmd, list) else None


def mounted_files(m: Manifests, pod: dict[str, Any], c: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Path in the container -> (ConfigMap, key) of each file that a configMap volume puts there."""
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    out: dict[str, tuple[str, str]] = {}
    for vm in c.get("volumeMounts") or []:
        cm = (volumes.get(vm.get("name")) or {}).get("configMap")
        if not cm:
            continue
        items = cm.get("items") or [{"key": k, "path": k} for k in configmap_data(m, cm.get("name")) or {}]
        files = {str(it["path"]): str(it["key"]) for it in items}
        if "subPath" in vm:
            if vm["subPath"] in files:
                out[vm["mountPath"]] = (cm["name"], files[vm["subPath"]])
            continue
        for path, key in files.items():
            out[posixpath.join(vm["mountPath"], path)] = (cm["name"], key)
    return out


def secret_volumes(pod: dict[str, Any], c: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(compose-style volumes of the container's Secret mounts, problems): the Secret of
    ``finesse-emu secrets`` is compose's volume ``secrets``."""
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    out, problems = [], []
    for vm in c.get("volumeMounts") or []:
        secret = (volumes.get(vm.get("name")) or {}).get("secret")
        if secret is None:
            continue
        name = secret.get("secretName")
        source = tc.SECRETS if name == SECRET else f"secret-{name}"
        out.append(f"{source}:{vm.get('mountPath')}" + (":ro" if vm.get("readOnly") else ""))
        if secret.get("optional"):
            problems.append(f"{c.get('name')}: Secret {name} is optional: the pod would start without it")
        mode = secret.get("defaultMode", 0o644)
        if not isinstance(mode, int) or mode & 0o007 or any("mode" in it for it in secret.get("items") or []):
            problems.append(f"{c.get('name')}: Secret {name} files readable by others (defaultMode {mode!r})")
    return out, problems


def documented_secrets(sso: bool = False) -> tuple[list[str] | None, list[str]]:
    """(the ``finesse-emu secrets`` command of docs/k8s.md with its DIR as /secrets, problems): the
    documented way to make the Secret, checked like compose's secrets service; with ``sso``, the
    documented one for the overlay (``--sso``)."""
    text = DOCS.read_text()
    made = next(
        (
            x
            for x in re.finditer(r"^finesse-emu secrets (.+)$", text, re.M)
            if ("--sso" in x[1].split()) == sso
        ),
        None,
    )
    created = re.search(rf"^kubectl create secret generic {SECRET} --from-file=(\S+)$", text, re.M)
    if made is None or created is None:
        wanted = f"finesse-emu secrets DIR` and `kubectl create secret generic {SECRET} --from-file=DIR"
        return None, [f"docs/k8s.md: no `{wanted}` lines"]
    argv = ["finesse-emu", "secrets", *shlex.split(made[1])]
    if argv[2] != created[1]:
        return None, [
            f"docs/k8s.md: the Secret is made from {created[1]}, not {argv[2]} (finesse-emu secrets)"
        ]
    argv[2] = tc.SECRETS_DIR
    return argv, []


def remote_check(readiness: list[str], host: str) -> list[str]:
    """A component's readiness check as another pod runs it: against its Service, not 127.0.0.1."""
    if readiness[:1] == ["emu-health"]:
        return [*readiness, "--host", host]
    if readiness[:2] == ["bash", "-c"] and len(readiness) == 3:
        return [
            "timeout",
            "3",
            "bash",
            "-c",
            readiness[2].replace("/dev/tcp/127.0.0.1/", f"/dev/tcp/{host}/"),
        ]
    return []


def waits(pod: dict[str, Any], readiness: dict[str, list[str]]) -> tuple[dict[str, Any], list[str]]:
    """The init containers as compose's depends_on: each one retries a component's health check."""
    deps: dict[str, Any] = {}
    problems = []
    for init in pod.get("initContainers") or []:
        args = [str(a) for a in init.get("args") or []]
        name = init.get("name")
        if args[:3] != ["sh", "-c", WAIT_SCRIPT] or len(args) < 5:
            problems.append(f"init container {name}: not `sh -c {WAIT_SCRIPT!r} NAME CHECK...`")
            continue
        target = args[4:]
        dep = next((d for d, r in readiness.items() if r and target == remote_check(r, d)), None)
        if dep is None:
            problems.append(f"init container {name} retries {target}: no component's readiness check")
            continue
        if target[0] == "emu-health":
            parsed = tc.parse(tc.HEALTH.build_parser(), target[1:])
            if isinstance(parsed, str) or parsed.host != dep:
                problems.append(f"init container {name}: emu-health rejects {target[1:]}: {parsed}")
        deps[dep] = {"condition": "service_healthy"}
    return deps, problems


def compose_view(m: Manifests, tmp: Path, sso: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The manifests as a compose file: each component's command line as it runs, its config files (the
    ConfigMap keys, written under ``tmp``), its readiness probe as the healthcheck, its waits as
    depends_on; the Job as the service ``desktops``."""
    services: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    problems: list[str] = []
    readiness: dict[str, list[str]] = {}
    pods: dict[str, dict[str, Any]] = {}
    for name in sorted(tc.components(sso)):
        dep = find(m, "Deployment", name)
        c = container(pod_spec(dep), name) if dep is not None else None
        if dep is None or c is None:
            continue  # check_components says so
        pods[name] = pod_spec(dep)
        cmd, p = argv(c, m)
        problems += p
        volumes, p = secret_volumes(pods[name], c)
        problems += p
        svc: dict[str, Any] = {"command": cmd, "configs": [], "volumes": volumes}
        ready = exec_probe(c, "readinessProbe")
        if ready is not None:
            svc["healthcheck"] = {"test": ["CMD", *ready]}
            readiness[name] = ready
        for target, (cm, key) in mounted_files(m, pods[name], c).items():
            data = configmap_data(m, cm) or {}
            if key not in data:
                problems.append(f"{name}: mounts key {key} of ConfigMap {cm}, which has none")
                continue
            source = f"{cm}.{key}"
            file = tmp / "configmaps" / source
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(data[key])
            configs[source] = {"file": str(file)}
            svc["configs"].append({"source": source, "target": target})
        services[name] = svc
    job = find(m, "Job", JOB)
    if job is not None:
        pods[tc.DESKTOPS] = pod_spec(job)
        swarm = container(pods[tc.DESKTOPS], SWARM) or {}
        volumes, p = secret_volumes(pods[tc.DESKTOPS], swarm)  # with SSO: the CA of the IdS's certificate
        problems += p
        services[tc.DESKTOPS] = {"volumes": volumes}
    for name, pod in pods.items():
        deps, p = waits(pod, readiness)
        problems += [f"{name}: {x}" for x in p]
        if any(v.startswith(f"{tc.SECRETS}:") for v in services[name].get("volumes") or []):
            # The kubelet starts no container of a pod before its (non-optional) Secret exists.
            deps[tc.SECRETS] = {"condition": tc.COMPLETED}
        services[name]["depends_on"] = deps
    secrets_cmd, p = documented_secrets(sso)
    problems += p
    if secrets_cmd is not None:
        services[tc.SECRETS] = {"command": secrets_cmd, "volumes": [f"{tc.SECRETS}:{tc.SECRETS_DIR}"]}
    return {"services": services, "configs": configs, "volumes": {tc.SECRETS: {}}}, problems


def components_only(view: dict[str, Any], sso: bool = False) -> dict[str, Any]:
    return {**view, "services": {n: s for n, s in view["services"].items() if n in tc.components(sso)}}


def check_secrets(m: Manifests, tmp: Path, sso: bool = False) -> list[str]:
    """The Secret, made as docs/k8s.md says, holds every file the pods read under /secrets; they
    mount it read-only, not optional, unreadable by others (test_compose's check of the secrets
    service, on the view)."""
    view, problems = compose_view(m, tmp, sso)
    return problems + tc.check_secrets(view, tmp, sso)


# -- checks ------------------------------------------------------------------------------------------
def check_wellformed(m: Manifests) -> list[str]:
    problems = []
    seen: set[tuple[str, str]] = set()
    for file, docs in sorted(m.items()):
        if not docs:
            problems.append(f"{file}: no manifest")
        for doc in docs:
            if not isinstance(doc, dict):
                problems.append(f"{file}: a document that is not a mapping: {doc!r:.60}")
                continue
            kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
            if not kind or not doc.get("apiVersion") or not name:
                problems.append(f"{file}: a manifest without apiVersion, kind or metadata.name")
                continue
            if API_VERSION.get(kind) != doc["apiVersion"]:
                problems.append(
                    f"{file}: {kind} {name}: apiVersion {doc['apiVersion']}, want {API_VERSION.get(kind)}"
                )
            if not DNS_LABEL.fullmatch(name) or len(name) > 63:
                problems.append(f"{file}: {kind} name {name!r} is not a DNS label")
            if "namespace" in doc["metadata"]:
                problems.append(f"{file}: {kind} {name} sets a namespace (kubectl -n, kustomize decide)")
            if (kind, name) in seen:
                problems.append(f"{file}: {kind} {name} defined twice")
            seen.add((kind, name))
    return problems


def check_kustomization(kust: dict[str, Any], files: set[str]) -> list[str]:
    problems = []
    if (kust.get("apiVersion"), kust.get("kind")) != ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
        problems.append(f"kustomization.yaml: {kust.get('apiVersion')} {kust.get('kind')}")
    listed = [str(r) for r in kust.get("resources") or []]
    problems += [f"kustomization.yaml does not list {f}" for f in sorted(files - set(listed))]
    problems += [
        f"kustomization.yaml lists {f}, which is no manifest here" for f in sorted(set(listed) - files)
    ]
    problems += [
        f"kustomization.yaml lists {f} twice" for f in sorted({f for f in listed if listed.count(f) > 1})
    ]
    return problems


def check_components(m: Manifests, sso: bool = False) -> list[str]:
    """A Deployment (one replica, never two at once) and a ClusterIP Service per component, and
    nothing else of either kind; each Service selects its own component's pods only."""
    problems = []
    pod_labels: dict[str, dict[str, str]] = {}
    for kind in ("Deployment", "Service"):
        names = {o["metadata"]["name"] for o in objects(m) if o.get("kind") == kind}
        problems += [f"no {kind} {n}" for n in sorted(tc.components(sso) - names)]
        problems += [f"unexpected {kind} {n}" for n in sorted(names - tc.components(sso))]
    for name in sorted(tc.components(sso)):
        dep = find(m, "Deployment", name)
        if dep is None:
            continue
        spec = dep["spec"]
        if spec.get("replicas") != 1:
            problems.append(f"{name}: replicas {spec.get('replicas')}, want 1 (one process per component)")
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            problems.append(f"{name}: strategy must be Recreate: a rolling update runs two at once")
        labels = spec["template"]["metadata"].get("labels") or {}
        match = (spec.get("selector") or {}).get("matchLabels") or {}
        if not match or any(labels.get(k) != v for k, v in match.items()):
            problems.append(f"{name}: selector {match} does not match its pods' labels {labels}")
        if container(pod_spec(dep), name) is None or len(pod_spec(dep).get("containers") or []) != 1:
            problems.append(f"{name}: want one container, named {name}")
        pod_labels[name] = {str(k): str(v) for k, v in labels.items()}
    job = find(m, "Job", JOB)
    if job is not None:
        pod_labels[JOB] = job["spec"]["template"]["metadata"].get("labels") or {}
    for name in sorted(tc.components(sso)):
        svc = find(m, "Service", name)
        if svc is None:
            continue
        spec = svc["spec"]
        if spec.get("type") != "ClusterIP":
            problems.append(
                f"{name}: Service type {spec.get('type')}, want ClusterIP (nothing outside the cluster)"
            )
        for field in ("externalIPs", "loadBalancerIP", "externalName", "externalTrafficPolicy"):
            if field in spec:
                problems.append(f"{name}: Service {field}: nothing is exposed outside the cluster")
        if any("nodePort" in p for p in spec.get("ports") or []):
            problems.append(f"{name}: Service with a nodePort")
        if spec.get("clusterIP") == "None":
            problems.append(f"{name}: headless Service: clients need its stable address")
        if spec.get("publishNotReadyAddresses") is not True:
            problems.append(f"{name}: publishNotReadyAddresses must be true: a node OUT_OF_SERVICE answers")
        selector = spec.get("selector") or {}
        selected = [
            n
            for n, labels in pod_labels.items()
            if selector and all(labels.get(k) == v for k, v in selector.items())
        ]
        if selected != [name]:
            problems.append(
                f"{name}: Service selector {selector} selects the pods of {selected}, want [{name!r}]"
            )
    return problems


def check_ports(m: Manifests, sso: bool = False) -> list[str]:
    """Containers declare, and Services carry, every real port of the component (topology.py), and
    only those: the nodes, the other CTI side and the init containers connect through the Service."""
    problems = []
    for name in sorted(tc.components(sso)):
        dep, svc = find(m, "Deployment", name), find(m, "Service", name)
        c = container(pod_spec(dep), name) if dep is not None else None
        if c is None or svc is None:
            continue
        declared = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        want = tc.REAL_PORTS[name]
        if set(declared.values()) != want or len(declared) != len(c.get("ports") or []):
            problems.append(f"{name}: container ports {sorted(declared.values())}, want {sorted(want)}")
        for pname in declared:
            if not isinstance(pname, str) or len(pname) > 15 or not PORT_NAME.fullmatch(pname):
                problems.append(f"{name}: port name {pname!r} is not an IANA service name")
        ports = svc["spec"].get("ports") or []
        served = set()
        for p in ports:
            target = p.get("targetPort", p.get("port"))
            resolved = declared.get(target) if isinstance(target, str) else target
            if resolved != p.get("port"):
                problems.append(f"{name}: Service port {p.get('port')} goes to {target} ({resolved})")
            if p.get("protocol", "TCP") != "TCP":
                problems.append(f"{name}: Service port {p.get('port')} is {p.get('protocol')}")
            served.add(p.get("port"))
        if served != want or len(served) != len(ports):
            problems.append(f"{name}: Service ports {sorted(map(str, served))}, want {sorted(want)}")
    return problems


def check_commands(m: Manifests, tmp: Path, sso: bool = False) -> list[str]:
    """Every component's command line, as Kubernetes runs it, is compose's (with compose's defaults,
    which the settings ConfigMap holds) and passes test_compose's checks: the components' own parsers,
    the launcher's options, the node configs loaded by the node, the topology's ports."""
    view, problems = compose_view(m, tmp, sso)
    problems += tc.check_commands(components_only(view, sso), tmp, sso)
    compose = tc.compose_with(sso=sso)
    for name in sorted(set(view["services"]) & tc.components(sso)):
        ours, theirs = view["services"][name]["command"], tc.command(compose["services"][name])
        if ours != theirs:
            problems.append(f"{name}: runs {ours}, compose runs {theirs}")
    for name in sorted(tc.components(sso)):
        # compose gives every service FINESSE_EMU_TIME_SCALE (x-emu), which every process also reads.
        dep = find(m, "Deployment", name)
        c = container(pod_spec(dep), name) if dep is not None else None
        want = str(compose["services"][name]["environment"]["FINESSE_EMU_TIME_SCALE"])
        got = container_env(c, m, {})[0].get("FINESSE_EMU_TIME_SCALE") if c is not None else want
        if got != want:
            problems.append(f"{name}: FINESSE_EMU_TIME_SCALE {got!r} in its environment, compose's {want!r}")
    for name in sorted(tc.NODES):
        # The node configs are docker/<node>.yaml's (<node>-sso.yaml's), read by the node's own loader.
        theirs_file = tc.DOCKER / f"{name}{'-sso' if sso else ''}.yaml"
        files = {
            s["target"]: view["configs"][s["source"]]["file"]
            for s in view["services"].get(name, {}).get("configs", [])
        }
        mine = files.get(f"/etc/finesse-emu/{name}.yaml")
        if mine is None:
            problems.append(f"{name}: no /etc/finesse-emu/{name}.yaml from a ConfigMap")
        elif node_cli.load_config(mine, {}) != node_cli.load_config(str(theirs_file), {}):
            problems.append(f"{name}: its ConfigMap config differs from docker/{theirs_file.name}")
    return problems


def check_probes(m: Manifests, tmp: Path, sso: bool = False) -> list[str]:
    """readinessProbe: compose's healthcheck, command and timing (and test_compose's health check);
    livenessProbe: the same endpoint, without the node's --state, patient."""
    view, _ = compose_view(m, tmp, sso)
    problems = tc.check_health(components_only(view, sso))
    compose = tc.compose_with(sso=sso)
    for name in sorted(tc.components(sso)):
        dep = find(m, "Deployment", name)
        c = container(pod_spec(dep), name) if dep is not None else None
        if c is None:
            continue
        ready, live = exec_probe(c, "readinessProbe"), exec_probe(c, "livenessProbe")
        want = [str(a) for a in compose["services"][name]["healthcheck"]["test"][1:]]
        if ready != want:
            problems.append(f"{name}: readinessProbe {ready}, compose's healthcheck {want}")
        timing = {k: (c.get("readinessProbe") or {}).get(k) for k in COMPOSE_TIMING}
        if timing != COMPOSE_TIMING:
            problems.append(f"{name}: readinessProbe timing {timing}, compose's {COMPOSE_TIMING}")
        if live is None or ready is None:
            problems.append(f"{name}: no livenessProbe")
            continue
        no_state = [
            a for i, a in enumerate(ready) if a != "--state" and (i == 0 or ready[i - 1] != "--state")
        ]
        if live != no_state:
            problems.append(f"{name}: livenessProbe {live}, want {no_state} (the same endpoint, no --state)")
        lp = c["livenessProbe"]
        patience = lp.get("periodSeconds", 10) * lp.get("failureThreshold", 3)
        if lp.get("initialDelaySeconds", 0) < 60 or patience < 120:
            problems.append(f"{name}: livenessProbe restarts within {patience}s or before start_period (60s)")
    return problems


def check_depends(m: Manifests, tmp: Path, sso: bool = False) -> list[str]:
    """Init containers wait for what compose's depends_on waits for, in the launcher's order."""
    view, problems = compose_view(m, tmp, sso)
    return problems + tc.check_depends(view, sso)


def check_pods(m: Manifests, dockerfile: str) -> list[str]:
    """One image, present locally; the image's unprivileged user; no API token, no service links."""
    uid = re.search(r"useradd\b[^\n]*--uid (\d+)", dockerfile)
    problems = [] if uid else ["Dockerfile: no useradd --uid"]
    workloads = [o for o in objects(m) if o.get("kind") in ("Deployment", "Job")]
    for w in workloads:
        name, pod = w["metadata"]["name"], pod_spec(w)
        sc = pod.get("securityContext") or {}
        if uid and (sc.get("runAsUser"), sc.get("runAsNonRoot")) != (int(uid[1]), True):
            problems.append(
                f"{name}: runAsUser {sc.get('runAsUser')}, want the image's emu {uid[1]}, non-root"
            )
        for field, want in (
            ("enableServiceLinks", False),
            ("automountServiceAccountToken", False),
            ("shareProcessNamespace", True),
        ):
            if pod.get(field) is not want:
                problems.append(f"{name}: {field} must be {want}")
        for c in all_containers(pod):
            if (c.get("image"), c.get("imagePullPolicy")) != (IMAGE, "IfNotPresent"):
                problems.append(
                    f"{name}/{c.get('name')}: image {c.get('image')} {c.get('imagePullPolicy')}, "
                    f"want {IMAGE} IfNotPresent (loaded into the cluster, no registry)"
                )
            csc = c.get("securityContext") or {}
            if csc.get("allowPrivilegeEscalation") is not False or "ALL" not in (
                (csc.get("capabilities") or {}).get("drop") or []
            ):
                problems.append(
                    f"{name}/{c.get('name')}: must drop ALL capabilities, no privilege escalation"
                )
    view = {
        "services": {
            f"{w['metadata']['name']}/{c.get('name')}": {
                "command": [str(a) for a in c.get("args") or [""]],
                "healthcheck": {"test": ["CMD", *(exec_probe(c, "readinessProbe") or [""])]},
            }
            for w in workloads
            for c in all_containers(pod_spec(w))
        }
    }
    problems += [p for p in tc.check_dockerfile(dockerfile, view) if "root" not in p or not uid]
    return problems


def job_slices(m: Manifests) -> tuple[int, list[tuple[list[str], list[str]]]]:
    """(K, per completion index: the swarm's command line as it runs in that pod, its problems)."""
    job = find(m, "Job", JOB)
    assert job is not None
    swarm = container(pod_spec(job), SWARM)
    assert swarm is not None
    k = int(job["spec"].get("completions") or 0)
    return k, [argv(swarm, m, {INDEX_FIELD: str(i)}) for i in range(k)]


def check_job(m: Manifests, sso: bool = False) -> list[str]:
    """The desktops: an Indexed Job of K pods, pod I running compose's swarm with --slice I/K, its
    history on a volume that the collect container keeps until it has been copied."""
    job = find(m, "Job", JOB)
    if job is None:
        return [f"no Job {JOB}"]
    spec, pod = job["spec"], pod_spec(job)
    problems = []
    if spec.get("completionMode") != "Indexed":
        problems.append(f"{JOB}: completionMode {spec.get('completionMode')}, want Indexed")
    k = spec.get("completions")
    if not isinstance(k, int) or k < 1:
        return [*problems, f"{JOB}: completions {k!r}"]
    if spec.get("parallelism") != k:
        problems.append(
            f"{JOB}: parallelism {spec.get('parallelism')} != completions {k}: one run, all at once"
        )
    if pod.get("restartPolicy") != "Never":
        problems.append(f"{JOB}: restartPolicy must be Never: a restarted swarm signs its slice in twice")
    swarm, collect = container(pod, SWARM), container(pod, COLLECT)
    if swarm is None or collect is None:
        return [*problems, f"{JOB}: containers {SWARM} and {COLLECT} wanted"]
    index_env = [v for v in swarm.get("env") or [] if v.get("name") == INDEX_VAR]
    if [((v.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") for v in index_env] != [
        INDEX_FIELD
    ]:
        problems.append(
            f"{JOB}: {SWARM} must declare {INDEX_VAR} from {INDEX_FIELD} ($(VAR) needs it declared)"
        )
    want = tc.swarm_args(tc.command(tc.compose_with(sso=sso)["services"][tc.DESKTOPS]))
    assert not isinstance(want, str)
    slices, histories, durations = [], [], set()
    for i, (cmd, p) in enumerate(job_slices(m)[1]):
        problems += [f"{JOB}: {x}" for x in p]
        if cmd[:2] != ["finesse-emu", "swarm"]:
            return [*problems, f"{JOB}: the swarm container runs {cmd[:2]}, want finesse-emu swarm"]
        ours = tc.parse(emu_cli.build_parser(), ["swarm", *cmd[2:]])
        if isinstance(ours, str):
            return [*problems, f"{JOB} pod {i}: finesse-emu swarm rejects {cmd[2:]}: {ours}"]
        try:
            got = parse_slice(ours.slice)
        except ValueError as exc:
            return [*problems, f"{JOB} pod {i}: {exc}"]
        if got != (i, k):
            problems.append(f"{JOB} pod {i}: --slice {ours.slice}, want {i}/{k}")
        if i == 0:
            problems += [
                f"{JOB}: {x} (compose's desktops)"
                for x in tc.diff(vars(ours), vars(want), {"slice", "history", "duration"})
            ]
        slices.append(ours.slice)
        histories.append(ours.history)
        durations.add(ours.duration)
    agents = directory_agents(int(want.agents))
    parts = [take_slice(agents, *parse_slice(s)) for s in slices]
    if sorted(a.id for part in parts for a in part) != sorted(a.id for a in agents):
        problems.append(f"{JOB}: slices {slices} do not cover the {len(agents)} agents exactly once")
    if None in histories or len(set(histories)) != k:
        problems.append(f"{JOB}: --history {histories}: one file per slice, named by its index")
    duration = next(iter(durations)) if len(durations) == 1 else None
    if not duration or duration <= 0:
        problems.append(f"{JOB}: --duration {durations}: a Job must end")
    # The histories' directory: a volume of the pod, which collect mounts at the same place.
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for h in (h for h in histories[:1] if h):
        directory = posixpath.dirname(h)
        mine = [vm for vm in swarm.get("volumeMounts") or [] if vm.get("mountPath") == directory]
        if not mine or "emptyDir" not in (volumes.get(mine[0].get("name")) or {}):
            problems.append(f"{JOB}: {directory} is no emptyDir volume of {SWARM}")
        elif not any(
            (vm.get("name"), vm.get("mountPath")) == (mine[0]["name"], directory)
            for vm in collect.get("volumeMounts") or []
        ):
            problems.append(f"{JOB}: {COLLECT} does not mount {directory}, so it cannot keep the histories")
        script = " ".join(argv(collect, m, {INDEX_FIELD: "0"})[0])
        if f"{directory}/collected" not in script:
            problems.append(f"{JOB}: {COLLECT} does not wait for {directory}/collected")
    window = container_env(collect, m, {INDEX_FIELD: "0"})[0].get("COLLECT_WINDOW", "")
    if not window.isdigit() or (duration and int(window) < duration + 300):
        problems.append(
            f"{JOB}: COLLECT_WINDOW {window!r} leaves under 5 minutes after --duration {duration}"
        )
    ready = exec_probe(swarm, "readinessProbe")
    compose_hc = [
        str(a) for a in tc.compose_with(sso=sso)["services"][tc.DESKTOPS]["healthcheck"]["test"][1:]
    ]
    if ready != compose_hc:
        problems.append(f"{JOB}: readinessProbe {ready}, compose's healthcheck {compose_hc}")
    if "livenessProbe" in swarm:
        problems.append(f"{JOB}: a livenessProbe would restart a swarm in the middle of a run")
    return problems


# -- the manifests as they are -----------------------------------------------------------------------
def test_every_manifest_is_wellformed(manifests: Manifests) -> None:
    assert check_wellformed(manifests) == []
    kinds = sorted(o["kind"] for o in objects(manifests))
    assert (
        kinds.count("Deployment") == kinds.count("Service") == len(tc.COMPONENTS) == 12
    )  # with the nodes' client-path proxies, edge-a and edge-b
    assert kinds.count("Job") == 1 and kinds.count("ConfigMap") == 2


def test_kustomization_lists_every_manifest(manifests: Manifests) -> None:
    assert check_kustomization(load_kustomization(), set(manifests)) == []


def test_a_deployment_and_a_clusterip_service_per_component(manifests: Manifests) -> None:
    assert check_components(manifests) == []


def test_ports_are_the_topologys(manifests: Manifests) -> None:
    assert check_ports(manifests) == []


def test_commands_are_composes_and_parse(manifests: Manifests, tmp_path: Path) -> None:
    assert check_commands(manifests, tmp_path) == []


def test_commands_follow_the_settings(manifests: Manifests, tmp_path: Path) -> None:
    """The settings ConfigMap plays compose's variables: the same values give the same command lines."""
    settings = find(manifests, "ConfigMap", SETTINGS)
    assert settings is not None
    settings["data"] = {"FINESSE_EMU_AGENTS": "7", "FINESSE_EMU_TIME_SCALE": "0.1"}
    compose = tc.compose_with({"FINESSE_EMU_AGENTS": "7", "FINESSE_EMU_TIME_SCALE": "0.1"})
    view, problems = compose_view(manifests, tmp_path)
    assert problems == []
    for name in tc.COMPONENTS:
        assert view["services"][name]["command"] == tc.command(compose["services"][name]), name
    want = tc.swarm_args(tc.command(compose["services"][tc.DESKTOPS]))
    assert not isinstance(want, str)
    for cmd, p in job_slices(manifests)[1]:
        ours = tc.parse(emu_cli.build_parser(), ["swarm", *cmd[2:]])
        assert p == [] and not isinstance(ours, str)
        assert (ours.agents, ours.time_scale) == (want.agents, want.time_scale) == (7, 0.1)


def test_the_secret_holds_what_the_pods_read(manifests: Manifests, tmp_path: Path) -> None:
    assert check_secrets(manifests, tmp_path) == []
    for name in tc.SECRETS_READERS:
        pod = pod_spec(_doc(manifests, "Deployment", name))
        assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == [SECRET]


def test_kubectl_makes_the_secret_from_the_documented_directory(tmp_path: Path) -> None:
    """docs/k8s.md's two lines, run: kubectl takes every file of the directory as a key."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the Secret's lines are checked statically only")
    argv, problems = documented_secrets()
    assert argv is not None, problems
    out = tmp_path / "k8s-secrets"
    code, printed = tc.run_secrets(argv, out)
    assert code == 0, printed
    create = [kubectl, "create", "secret", "generic", SECRET, f"--from-file={out}", "--dry-run=client"]
    r = subprocess.run([*create, "-o", "yaml"], capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    secret = yaml.safe_load(r.stdout)
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", SECRET)
    assert sorted(secret["data"]) == sorted(p.name for p in out.iterdir())


def test_probes_are_composes_healthchecks(manifests: Manifests, tmp_path: Path) -> None:
    assert check_probes(manifests, tmp_path) == []


def test_start_order_is_composes(manifests: Manifests, tmp_path: Path) -> None:
    assert check_depends(manifests, tmp_path) == []
    view, _ = compose_view(manifests, tmp_path)
    order = tc.SMOKE.start_order(view["services"])
    assert order.index(CTI_A.name) < order.index(CTI_B.name)
    assert order[-1] == tc.DESKTOPS


def test_pods_run_the_one_image_unprivileged(manifests: Manifests) -> None:
    assert check_pods(manifests, tc.DOCKERFILE.read_text()) == []


def test_desktops_job(manifests: Manifests) -> None:
    assert check_job(manifests) == []


@pytest.mark.parametrize("agents", [1, 3, 50, 1000, 2000, 24000])
def test_job_slices_cover_every_agent_once(manifests: Manifests, agents: int) -> None:
    """Whatever the number of agents, the K pods' slices, read by the swarm's own parse_slice and
    take_slice, drive every agent exactly once."""
    k, runs = job_slices(manifests)
    assert k >= 1 and len(runs) == k
    everyone = directory_agents(agents)
    seen = []
    for i, (cmd, problems) in enumerate(runs):
        assert problems == []
        args = emu_cli.build_parser().parse_args(["swarm", *cmd[2:]])
        assert parse_slice(args.slice) == (i, k)
        seen += [a.id for a in take_slice(everyone, *parse_slice(args.slice))]
    assert sorted(seen) == sorted(a.id for a in everyone) and len(seen) == len(set(seen)) == agents


def test_undeclared_index_is_not_expanded(manifests: Manifests) -> None:
    """Kubernetes leaves $(VAR) as written when VAR is not declared in the container: then the slice is
    not a slice (which is why the swarm declares JOB_COMPLETION_INDEX)."""
    job = find(manifests, "Job", JOB)
    assert job is not None
    swarm = container(pod_spec(job), SWARM)
    assert swarm is not None
    swarm["env"] = [v for v in swarm["env"] if v["name"] != INDEX_VAR]
    cmd, _ = argv(swarm, manifests, {INDEX_FIELD: "2"})
    assert cmd[cmd.index("--slice") + 1] == f"$({INDEX_VAR})/4"
    assert expand("$$(x) $(A)/$(B)", {"A": "1"}) == "$(x) 1/$(B)"


def test_kubectl_kustomize_builds_the_same_objects(manifests: Manifests) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomization is checked statically only")
    r = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False, timeout=60
    )
    assert r.returncode == 0, r.stderr
    built = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(r.stdout) if o}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in objects(manifests)}
    assert built == ours


# -- the scripts the pods run ------------------------------------------------------------------------
def test_wait_script_runs_the_whole_check(tmp_path: Path) -> None:
    """`sh -c SCRIPT NAME CHECK...`: NAME is $0, so the check keeps its first word, and it is retried."""
    marker = tmp_path / "second"
    check = f"test -e {marker} || {{ touch {marker}; exit 1; }}"
    started = time.monotonic()
    retried = subprocess.run(
        ["sh", "-c", WAIT_SCRIPT, "wait-x", "sh", "-c", check], capture_output=True, timeout=30, check=False
    )
    assert retried.returncode == 0 and marker.exists() and time.monotonic() - started >= 1.5
    r = subprocess.run(
        ["sh", "-c", WAIT_SCRIPT, "wait-x", "echo", "ok"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert (r.returncode, r.stdout) == (0, "ok\n")


def test_collect_holds_until_collected_or_the_window(manifests: Manifests, tmp_path: Path) -> None:
    job = find(manifests, "Job", JOB)
    assert job is not None
    collect = container(pod_spec(job), COLLECT)
    assert collect is not None
    cmd, _ = argv(collect, manifests, {INDEX_FIELD: "0"})
    local = [a.replace("/data/", f"{tmp_path}/") for a in cmd]

    def run(window: str) -> tuple[int, float]:
        started = time.monotonic()
        r = subprocess.run(
            local, env={"PATH": "/usr/bin:/bin", "COLLECT_WINDOW": window}, timeout=30, check=False
        )
        return r.returncode, time.monotonic() - started

    code, took = run("1")  # nobody collected: it gives up after the window, and still exits 0
    assert code == 0 and 0.9 <= took < 5
    (tmp_path / "collected").touch()
    code, took = run("600")  # collected: it ends at once
    assert code == 0 and took < 5


# -- the checks can fail -----------------------------------------------------------------------------
def _doc(m: Manifests, kind: str, name: str) -> dict[str, Any]:
    o = find(m, kind, name)
    assert o is not None
    return o


def _main(m: Manifests, name: str) -> dict[str, Any]:
    kind = "Job" if name == JOB else "Deployment"
    c = container(pod_spec(_doc(m, kind, name)), SWARM if name == JOB else name)
    assert c is not None
    return c


def _arg(m: Manifests, name: str, flag: str, value: str) -> None:
    args = _main(m, name)["args"]
    args[args.index(flag) + 1] = value


def _drop(m: Manifests, kind: str, name: str) -> None:
    for docs in m.values():
        docs[:] = [d for d in docs if not (d.get("kind") == kind and d["metadata"]["name"] == name)]


def _node_config(m: Manifests, text: str, by: str) -> None:
    data = _doc(m, "ConfigMap", "finesse-emu-nodes")["data"]
    data["finesse-b.yaml"] = data["finesse-b.yaml"].replace(text, by)


def _probe(m: Manifests, name: str, kind: str, cmd: list[str]) -> None:
    _main(m, name)[kind]["exec"]["command"] = cmd


def _init_args(m: Manifests, name: str, wait: str) -> list[Any]:
    init = next(c for c in pod_spec(_doc(m, "Deployment", name))["initContainers"] if c["name"] == wait)
    args: list[Any] = init["args"]
    return args


def _secret(m: Manifests, name: str) -> dict[str, Any]:
    volume = next(v for v in pod_spec(_doc(m, "Deployment", name))["volumes"] if "secret" in v)
    secret: dict[str, Any] = volume["secret"]
    return secret


Mutation = Callable[[Manifests], object]
MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "a manifest without a name": (
        lambda m: _doc(m, "Service", "awdb-a")["metadata"].pop("name"),
        "wellformed",
    ),
    "a Job as apps/v1": (lambda m: _doc(m, "Job", JOB).update(apiVersion="apps/v1"), "wellformed"),
    "not YAML mappings": (lambda m: m["cti-a.yaml"].append(["not", "a", "manifest"]), "wellformed"),
    "kustomization misses a file": (lambda m: m.update({"extra.yaml": [{}]}), "kustomization"),
    "missing Deployment": (lambda m: _drop(m, "Deployment", "xmpp-b"), "components"),
    "missing Service": (lambda m: _drop(m, "Service", "awdb-b"), "components"),
    "two replicas": (lambda m: _doc(m, "Deployment", "cti-a")["spec"].update(replicas=2), "components"),
    "rolling update": (
        lambda m: _doc(m, "Deployment", "finesse-a")["spec"].update(strategy={"type": "RollingUpdate"}),
        "components",
    ),
    "NodePort": (lambda m: _doc(m, "Service", "finesse-a")["spec"].update(type="NodePort"), "components"),
    "LoadBalancer": (
        lambda m: _doc(m, "Service", "xmpp-a")["spec"].update(type="LoadBalancer"),
        "components",
    ),
    "Service without a type": (lambda m: _doc(m, "Service", "cti-b")["spec"].pop("type"), "components"),
    "Service routing to another component": (
        lambda m: _doc(m, "Service", "cti-a")["spec"].update(selector={"app.kubernetes.io/name": "cti-b"}),
        "components",
    ),
    "Service selecting every pod": (
        lambda m: _doc(m, "Service", "awdb-a")["spec"].update(
            selector={"app.kubernetes.io/part-of": "finesse-emu"}
        ),
        "components",
    ),
    "not-ready node unreachable": (
        lambda m: _doc(m, "Service", "finesse-b")["spec"].pop("publishNotReadyAddresses"),
        "components",
    ),
    "link port not in the Service": (lambda m: _doc(m, "Service", "cti-a")["spec"]["ports"].pop(1), "ports"),
    "Service port to the wrong target": (
        lambda m: _doc(m, "Service", "awdb-b")["spec"]["ports"][0].update(targetPort="admin"),
        "ports",
    ),
    "a port the component lacks": (
        lambda m: _main(m, "xmpp-a")["ports"].append({"name": "s2s", "containerPort": 5269}),
        "ports",
    ),
    "cti-a on side B's port": (lambda m: _arg(m, "cti-a", "--port", "43027"), "commands"),
    "proxy carrying XMPP to the node": (
        lambda m: _main(m, "edge-b")["args"].__setitem__(
            _main(m, "edge-b")["args"].index("xmpp=0.0.0.0:5222,xmpp-b:5222"),
            "xmpp=0.0.0.0:5222,finesse-b:5222",
        ),
        "commands",
    ),
    "proxy's secure XMPP port not in its Service": (
        lambda m: _doc(m, "Service", "edge-a")["spec"]["ports"].pop(4),
        "ports",
    ),
    "cti-b peer on the wrong link port": (lambda m: _arg(m, "cti-b", "--peer", "cti-a:42027"), "commands"),
    "a flag the CLI rejects": (lambda m: _main(m, "awdb-a")["args"].append("--no-such-flag"), "commands"),
    "a loopback address": (lambda m: _arg(m, "awdb-b", "--host", "127.0.10.4"), "commands"),
    "command instead of args": (
        lambda m: _main(m, "xmpp-b").update(command=_main(m, "xmpp-b").pop("args")),
        "commands",
    ),
    "an undeclared variable": (
        lambda m: _main(m, "cti-a").update(
            env=[e for e in _main(m, "cti-a")["env"] if e["name"] != "FINESSE_EMU_AGENTS"]
        ),
        "commands",
    ),
    "other settings than compose's defaults": (
        lambda m: _doc(m, "ConfigMap", SETTINGS)["data"].update(FINESSE_EMU_AGENTS="60"),
        "commands",
    ),
    "node config with a wrong port": (
        lambda m: _node_config(m, "http_port: 8082", "http_port: 8083"),
        "commands",
    ),
    "node config at another CTI": (
        lambda m: _node_config(m, "[B, cti-b, 43027]", "[B, cti-a, 43027]"),
        "commands",
    ),
    "node config mounted elsewhere": (
        lambda m: _main(m, "finesse-a")["volumeMounts"][1].update(mountPath="/etc/finesse"),
        "commands",
    ),
    "readiness on the CTI port": (
        lambda m: _probe(m, "cti-b", "readinessProbe", ["emu-health", "43027"]),
        "probes",
    ),
    "node ready before IN_SERVICE": (
        lambda m: _probe(m, "finesse-a", "readinessProbe", ["emu-health", "8089"]),
        "probes",
    ),
    "readiness slower than compose's": (
        lambda m: _main(m, "awdb-a")["readinessProbe"].update(periodSeconds=10),
        "probes",
    ),
    "no liveness": (lambda m: _main(m, "xmpp-a").pop("livenessProbe"), "probes"),
    "node killed when OUT_OF_SERVICE": (
        lambda m: _probe(m, "finesse-b", "livenessProbe", ["emu-health", "8089", "--state", "IN_SERVICE"]),
        "probes",
    ),
    "impatient liveness": (lambda m: _main(m, "cti-a")["livenessProbe"].update(failureThreshold=3), "probes"),
    "node not waiting for its Prosody": (
        lambda m: pod_spec(_doc(m, "Deployment", "finesse-b"))["initContainers"].pop(),
        "depends",
    ),
    "waiting on the wrong admin port": (
        lambda m: _init_args(m, "cti-b", "wait-cti-a").__setitem__(5, "42027"),
        "depends",
    ),
    "wait that runs only once": (
        lambda m: _init_args(m, "finesse-a", "wait-awdb-a").__setitem__(2, "true"),
        "depends",
    ),
    "wait cycle": (
        lambda m: pod_spec(_doc(m, "Deployment", "cti-a")).update(
            initContainers=copy.deepcopy(pod_spec(_doc(m, "Deployment", "finesse-a"))["initContainers"][3:4])
        ),
        "depends",
    ),
    "an image from a registry": (
        lambda m: _main(m, "awdb-a").update(image="docker.io/x/finesse-emu:1"),
        "pods",
    ),
    "always pulled": (lambda m: _main(m, "finesse-b").update(imagePullPolicy="Always"), "pods"),
    "as root": (
        lambda m: pod_spec(_doc(m, "Deployment", "cti-b"))["securityContext"].update(runAsUser=0),
        "pods",
    ),
    "service links": (lambda m: pod_spec(_doc(m, "Deployment", "xmpp-a")).pop("enableServiceLinks"), "pods"),
    "Job not Indexed": (lambda m: _doc(m, "Job", JOB)["spec"].pop("completionMode"), "job"),
    "parallelism != completions": (lambda m: _doc(m, "Job", JOB)["spec"].update(parallelism=2), "job"),
    "K in --slice != completions": (lambda m: _arg(m, JOB, "--slice", "$(JOB_COMPLETION_INDEX)/3"), "job"),
    "completions != K in --slice": (
        lambda m: _doc(m, "Job", JOB)["spec"].update(completions=5, parallelism=5),
        "job",
    ),
    "every pod the same slice": (lambda m: _arg(m, JOB, "--slice", "0/4"), "job"),
    "completion index not declared": (
        lambda m: _main(m, JOB).update(env=[e for e in _main(m, JOB)["env"] if e["name"] != INDEX_VAR]),
        "job",
    ),
    "one history name for all": (lambda m: _arg(m, JOB, "--history", "/data/history.jsonl"), "job"),
    "history off the volume": (
        lambda m: _arg(m, JOB, "--history", "/tmp/h-$(JOB_COMPLETION_INDEX).jsonl"),
        "job",
    ),
    "no duration": (lambda m: _main(m, JOB)["args"].__delitem__(slice(-2, None)), "job"),
    "desktops at a wrong publisher": (lambda m: _arg(m, JOB, "--publisher", "http://finesse-b:8082"), "job"),
    "desktops drive other agents": (lambda m: _arg(m, JOB, "--agents", "60"), "job"),
    "collect window shorter than the run": (
        lambda m: container(pod_spec(_doc(m, "Job", JOB)), COLLECT)["env"][0].update(value="600"),  # type: ignore[index]
        "job",
    ),
    "restarted slices": (lambda m: pod_spec(_doc(m, "Job", JOB)).update(restartPolicy="OnFailure"), "job"),
    "node without the Secret": (lambda m: _main(m, "finesse-a")["volumeMounts"].pop(2), "secrets"),
    "AWDB without the Secret": (lambda m: _main(m, "awdb-b").pop("volumeMounts"), "secrets"),
    "Secret mounted writable": (lambda m: _main(m, "xmpp-a")["volumeMounts"][1].pop("readOnly"), "secrets"),
    "another Secret": (lambda m: _secret(m, "finesse-b").update(secretName="other"), "secrets"),
    "optional Secret": (lambda m: _secret(m, "finesse-a").update(optional=True), "secrets"),
    "Secret readable by all": (lambda m: _secret(m, "awdb-a").update(defaultMode=0o444), "secrets"),
    "node config with a CA nobody writes": (
        lambda m: _node_config(m, "ca_file: /secrets/ca.crt", "ca_file: /secrets/ca.pem"),
        "secrets",
    ),
    "swarm liveness": (
        lambda m: _main(m, JOB).update(livenessProbe=copy.deepcopy(_main(m, JOB)["readinessProbe"])),
        "job",
    ),
}


def run_check(kind: str, m: Manifests, tmp: Path, sso: bool = False) -> list[str]:
    checks: dict[str, Callable[[], list[str]]] = {
        "wellformed": lambda: check_wellformed(m),
        "kustomization": lambda: check_kustomization(load_kustomization(), set(m)),
        "components": lambda: check_components(m, sso),
        "ports": lambda: check_ports(m, sso),
        "commands": lambda: check_commands(m, tmp, sso),
        "probes": lambda: check_probes(m, tmp, sso),
        "depends": lambda: check_depends(m, tmp, sso),
        "pods": lambda: check_pods(m, tc.DOCKERFILE.read_text()),
        "job": lambda: check_job(m, sso),
        "secrets": lambda: check_secrets(m, tmp, sso),
    }
    tmp.mkdir(parents=True, exist_ok=True)
    return checks[kind]()


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_checks_can_fail(manifests: Manifests, tmp_path: Path, mutation: str) -> None:
    mutate, kind = MUTATIONS[mutation]
    assert run_check(kind, manifests, tmp_path / "before") == []
    broken = copy.deepcopy(manifests)
    mutate(broken)
    assert run_check(kind, broken, tmp_path / "after") != [], mutation


# -- single sign-on: deploy/k8s-sso ------------------------------------------------------------------
def check_sso_kustomization(kust: dict[str, Any]) -> list[str]:
    """The overlay: deploy/k8s as its base, every other manifest of its directory a resource or a
    patch, once; each patch names an object of deploy/k8s (load_sso_manifests asserts that)."""
    problems = []
    if (kust.get("apiVersion"), kust.get("kind")) != ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
        problems.append(f"k8s-sso/kustomization.yaml: {kust.get('apiVersion')} {kust.get('kind')}")
    resources = [str(r) for r in kust.get("resources") or []]
    patches = [str((p or {}).get("path")) for p in kust.get("patches") or []]
    if "../k8s" not in resources:
        problems.append("k8s-sso/kustomization.yaml: deploy/k8s (../k8s) is not its base")
    files = {p.name for p in K8S_SSO.glob("*.yaml")} - {"kustomization.yaml"}
    listed = [r for r in resources if r != "../k8s"] + patches
    if sorted(listed) != sorted(files):
        problems.append(
            f"k8s-sso/kustomization.yaml lists {sorted(listed)}, the directory has {sorted(files)}"
        )
    return problems


SSO_CHECKS = ("components", "ports", "commands", "probes", "depends", "pods", "job", "secrets")


def test_sso_overlay_is_composes_sso_variant(sso_manifests: Manifests, tmp_path: Path) -> None:
    """Every check of the plain manifests, on the overlay as built, against compose's SSO variant."""
    assert check_sso_kustomization(yaml.safe_load((K8S_SSO / "kustomization.yaml").read_text())) == []
    assert check_wellformed(sso_manifests) == []
    for kind in SSO_CHECKS:
        assert run_check(kind, sso_manifests, tmp_path / kind, sso=True) == [], kind
    pod = pod_spec(_doc(sso_manifests, "Deployment", "ids"))
    assert [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v] == [SECRET]


def test_plain_manifests_are_not_the_sso_variant(
    manifests: Manifests, sso_manifests: Manifests, tmp_path: Path
) -> None:
    for kind in ("components", "commands", "depends", "job"):
        assert run_check(kind, manifests, tmp_path / f"plain-{kind}", sso=True) != [], kind
    for kind in ("components", "commands", "job"):
        assert run_check(kind, sso_manifests, tmp_path / f"sso-{kind}", sso=False) != [], kind


def test_kubectl_kustomize_builds_the_sso_overlay(sso_manifests: Manifests) -> None:
    """``kubectl kustomize deploy/k8s-sso`` builds what the checks read (load_sso_manifests)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlay is checked statically only")
    r = subprocess.run(
        [kubectl, "kustomize", str(K8S_SSO)], capture_output=True, text=True, check=False, timeout=60
    )
    assert r.returncode == 0, r.stderr
    built = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(r.stdout) if o}
    ours = {(o["kind"], o["metadata"]["name"]): o for o in objects(sso_manifests)}
    assert built == ours


def _sso_node_config(m: Manifests, text: str, by: str) -> None:
    data = _doc(m, "ConfigMap", "finesse-emu-nodes")["data"]
    data["finesse-a.yaml"] = data["finesse-a.yaml"].replace(text, by)


def _job_init(m: Manifests) -> list[Any]:
    inits: list[Any] = pod_spec(_doc(m, "Job", JOB))["initContainers"]
    return inits


SSO_MUTATIONS: dict[str, tuple[Mutation, str]] = {
    "no IdS Deployment": (lambda m: _drop(m, "Deployment", "ids"), "components"),
    "no IdS Service": (lambda m: _drop(m, "Service", "ids"), "components"),
    "IdS port not in its Service": (lambda m: _doc(m, "Service", "ids")["spec"]["ports"].pop(0), "ports"),
    "IdS with another directory": (lambda m: _arg(m, "ids", "--agents", "20"), "commands"),
    "IdS signing with another key": (
        lambda m: _arg(m, "ids", "--signing-key-file", "/secrets/xmpp-password"),
        "commands",
    ),
    "node left in NON_SSO": (
        lambda m: _sso_node_config(m, "auth_mode: SSO", "auth_mode: NON_SSO"),
        "commands",
    ),
    "node with another signing key": (
        lambda m: _sso_node_config(m, "/secrets/sso-signing-key", "/secrets/awdb-password"),
        "commands",
    ),
    "IdS ready on its https port": (
        lambda m: _probe(m, "ids", "readinessProbe", ["emu-health", "8553"]),
        "probes",
    ),
    "IdS without the Secret": (lambda m: _main(m, "ids").pop("volumeMounts"), "secrets"),
    "desktops without the Secret": (lambda m: _main(m, JOB)["volumeMounts"].pop(0), "secrets"),
    "desktops not waiting for the IdS": (lambda m: _job_init(m).pop(0), "depends"),
    "desktops on Basic": (lambda m: _main(m, JOB)["args"].__delitem__(slice(16, 20)), "job"),
    "desktops at another IdS": (lambda m: _arg(m, JOB, "--ids", "https://ids.example:8553"), "job"),
    "IdS from a registry": (lambda m: _main(m, "ids").update(image="docker.io/x/ids:1"), "pods"),
}


@pytest.mark.parametrize("mutation", sorted(SSO_MUTATIONS))
def test_sso_checks_can_fail(sso_manifests: Manifests, tmp_path: Path, mutation: str) -> None:
    mutate, kind = SSO_MUTATIONS[mutation]
    assert run_check(kind, sso_manifests, tmp_path / "before", sso=True) == []
    broken = copy.deepcopy(sso_manifests)
    mutate(broken)
    assert run_check(kind, broken, tmp_path / "after", sso=True) != [], mutation
