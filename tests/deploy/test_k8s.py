"""The Kubernetes manifests, offline: every overlay renders with `kubectl kustomize`, every rendered
object validates against the Kubernetes 1.30 schemas (`kubernetes-validate`, strict: unknown fields
fail), and the properties that matter hold (probes, drain timing, security, replicas, no secrets in
the ConfigMap). The shipped gateway config itself loads through the gateway's own validator."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import load_config

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE_CONFIG = K8S / "base" / "config.yaml"
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.30.0"
PROVIDER_KEY_ENVS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY")
KUBECTL = shutil.which("kubectl") or ("/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else None)

_rendered: dict[str, list[dict[str, Any]]] = {}


def render(overlay: str) -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: cannot render the kustomize overlays (apt install kubectl)")
    if overlay not in _rendered:
        out = subprocess.run([KUBECTL, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{out.stderr}"
        _rendered[overlay] = [d for d in yaml.safe_load_all(out.stdout) if d]
    return _rendered[overlay]


def one(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def gateway_container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    dep = one(objs, "Deployment", "gateway")
    return next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "gateway")


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


# --------------------------------------------------------------------------- the config file

def test_shipped_config_loads_with_the_gateway_validator() -> None:
    cfg = load_config(BASE_CONFIG, env={name: "x" for name in PROVIDER_KEY_ENVS})
    by_name = {name: (p.format, p.base_url, p.api_key_env) for name, p in cfg.providers.items()}
    assert by_name == {
        "openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        "anthropic": ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
        "gemini": ("gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY"),
        "deepseek": ("openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    }
    # 2026 list prices (micro-dollars per million tokens), the 2026 list prices in configs/demo.yaml
    prices = {name: (d.price.input, d.price.output) for name, d in cfg.deployments.items()}
    assert prices["gpt-5.5"] == (5_000_000, 30_000_000)
    assert prices["gpt-5.4"] == (2_500_000, 15_000_000)
    assert prices["gpt-5.4-mini"] == (400_000, 1_600_000)
    assert prices["claude-opus-4.7"] == (15_000_000, 75_000_000)
    assert prices["deepseek-v4-pro"] == (140_000, 280_000)


def test_shipped_config_needs_every_provider_key() -> None:
    from gateway.config import ConfigError

    for missing in PROVIDER_KEY_ENVS:
        env = {name: "x" for name in PROVIDER_KEY_ENVS if name != missing}
        with pytest.raises(ConfigError, match=missing):
            load_config(BASE_CONFIG, env=env)


def test_secret_example_covers_every_provider_key() -> None:
    secret = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "gateway-provider-keys"
    assert set(secret["stringData"]) == set(PROVIDER_KEY_ENVS)
    assert "secret.example.yaml" not in yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]


# --------------------------------------------------------------------------- render + schemas

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_against_the_schemas(overlay: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (pip install -e '.[test]')")
    objs = render(overlay)
    kinds = sorted(o["kind"] for o in objs)
    for required in ("ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service",
                     "ServiceAccount"):
        assert required in kinds, f"overlays/{overlay} renders no {required}: {kinds}"
    assert "Secret" not in kinds, "no Secret may be applied by the overlays (values are created out of band)"
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"overlays/{overlay}: {obj['kind']}/{obj['metadata']['name']}: "
                                 f"{exc.message} at {'.'.join(map(str, exc.path))}") from None


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The validator is not a rubber stamp: a misspelled field fails."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    dep = yaml.safe_load(yaml.safe_dump(one(render("prod"), "Deployment", "gateway")))
    dep["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


# --------------------------------------------------------------------------- properties

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_command_and_drain_timing(overlay: str) -> None:
    objs = render(overlay)
    dep = one(objs, "Deployment", "gateway")
    pod = dep["spec"]["template"]["spec"]
    c = gateway_container(objs)
    assert c["image"] == "gateway:0.1.0"
    argv = [*c.get("command", []), *c.get("args", [])]
    assert argv[:2] == ["gateway", "serve"], argv
    assert flag(argv, "--config") == "/etc/gateway/config.yaml"
    assert flag(argv, "--host") == "0.0.0.0" and flag(argv, "--port") == "8080"
    assert flag(argv, "--workers") == "2"
    grace = int(flag(argv, "--grace"))
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] in ("/healthz", "/readyz")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in ("http", 8080)
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in c["ports"]
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    pre_stop_s = int(pre_stop[1])
    assert pre_stop_s >= 5
    assert pod["terminationGracePeriodSeconds"] > pre_stop_s + grace, (pod["terminationGracePeriodSeconds"],
                                                                       pre_stop_s, grace)
    strategy = dep["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_security_context(overlay: str) -> None:
    objs = render(overlay)
    pod = one(objs, "Deployment", "gateway")["spec"]["template"]["spec"]
    c = gateway_container(objs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a read-only root needs a writable /tmp"
    assert volumes[mounts["/etc/gateway"]]["configMap"]["name"].startswith("gateway-config-"), \
        "the config ConfigMap must carry kustomize's content hash (a config change rolls the pods)"
    sa = one(objs, "ServiceAccount", pod["serviceAccountName"])
    assert sa["automountServiceAccountToken"] is False
    # spread across nodes
    assert any(t["topologyKey"] == "kubernetes.io/hostname" for t in pod.get("topologySpreadConstraints", [])) \
        or pod["affinity"]["podAntiAffinity"]


@pytest.mark.parametrize("overlay,replicas,min_hpa", [("dev", 1, 1), ("prod", 3, 3)])
def test_replicas_hpa_pdb_service(overlay: str, replicas: int, min_hpa: int) -> None:
    objs = render(overlay)
    dep = one(objs, "Deployment", "gateway")
    assert dep["spec"]["replicas"] == replicas
    assert all(o["metadata"].get("namespace") == f"gateway{'-dev' if overlay == 'dev' else ''}"
               for o in objs if o["kind"] != "Namespace")
    hpa = one(objs, "HorizontalPodAutoscaler", "gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert hpa["spec"]["minReplicas"] == min_hpa and hpa["spec"]["maxReplicas"] >= min_hpa
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
    pdb = one(objs, "PodDisruptionBudget", "gateway")
    assert pdb["spec"]["maxUnavailable"] == 1
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    for selector in (pdb["spec"]["selector"]["matchLabels"], one(objs, "Service", "gateway")["spec"]["selector"],
                     dep["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items(), (selector, pod_labels)
    assert one(objs, "Service", "gateway")["spec"]["ports"][0]["targetPort"] in ("http", 8080)


def test_dev_runs_its_own_redis_with_aof_and_noeviction() -> None:
    objs = render("dev")
    sts = one(objs, "StatefulSet", "gateway-redis")
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    svc = one(objs, "Service", sts["spec"]["serviceName"])
    assert svc["spec"]["clusterIP"] == "None"
    conf_map = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("gateway-redis"))
    conf = dict(line.split(None, 1) for line in conf_map["data"]["valkey.conf"].splitlines()
                if line.strip() and not line.startswith("#"))
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    env = {e["name"]: e for e in gateway_container(objs)["env"]}
    assert env["REDIS_URL"]["value"] == "redis://gateway-redis-0.gateway-redis:6379/0"


def test_prod_reads_redis_url_from_a_secret() -> None:
    objs = render("prod")
    assert not [o for o in objs if o["kind"] == "StatefulSet"], "prod uses a managed Redis, not an in-cluster one"
    env = {e["name"]: e for e in gateway_container(objs)["env"]}
    assert "value" not in env["REDIS_URL"]
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "gateway-redis", "key": "url"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_provider_keys_come_from_a_secret_and_not_the_configmap(overlay: str) -> None:
    objs = render(overlay)
    c = gateway_container(objs)
    assert {"secretRef": {"name": "gateway-provider-keys"}} in c["envFrom"]
    cm = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("gateway-config-"))
    text = cm["data"]["config.yaml"]
    doc = yaml.safe_load(text)
    for name, provider in doc["providers"].items():
        assert set(provider) <= {"format", "base_url", "api_key_env", "timeouts", "headers", "api_version",
                                 "max_retries"}, name
        assert "api_key" not in provider and not provider.get("headers")
    for shaped_like_a_secret in (r"sk-[A-Za-z0-9_\-]{8,}", r"AIza[0-9A-Za-z_\-]{20,}", r"(?i)bearer\s+\w{8,}",
                                 r"rediss?://[^\s@]*:[^\s@]+@", r"(?i)password\s*[:=]\s*\S+"):
        assert not re.search(shaped_like_a_secret, text), shaped_like_a_secret
    for key in doc["keys"]:
        assert set(key) >= {"name", "sha256"} and len(key["sha256"]) == 64
    # also no secret values anywhere in the rendered ConfigMaps/env
    rendered = yaml.safe_dump_all(objs)
    assert "replace-me" not in rendered



def test_operations_guide_names_real_objects_and_keys() -> None:
    """docs/operations.md tells operators the commands and keys; they must name real ones."""
    from gateway.state.keys import Keys

    doc = (ROOT / "docs" / "operations.md").read_text()
    for text in ("kubectl apply -k deploy/k8s/overlays/prod", "kubectl scale deploy/gateway --replicas=",
                 "rollout status deploy/gateway", "gateway-provider-keys", "make cluster", "make cluster-down"):
        assert text in doc, text
    # every '{gw}:...' key the guide quotes is one the key builders produce
    k = Keys("gw")
    shapes = [k.spend("DAY"), k.res(), k.resdl(), k.req("ID"), k.ledger(), k.key_rpm("K"), k.key_tpm("K"),
              k.dep_rpm("D"), k.dep_tpm("D"), k.breaker("D"), k.latency("D"), k.tokstats(), k.lease("N")]
    patterns = [re.compile("^" + re.escape(s).replace("DAY", r"(\d{4}-\d\d-\d\d|<DAY>)").replace("ID", r"<req_id>")
                           .replace("K", r"(<k>|[\w.-]+)").replace("D", r"[\w.<>-]+").replace("N", r"<name>") + "$")
                for s in shapes]
    patterns += [re.compile("^" + re.escape(k.audit()) + "$"), re.compile("^" + re.escape(k.last_use()) + "$")]
    patterns += [re.compile("^" + re.escape(k.auth_failures_all()) + "$"),
                 re.compile("^" + re.escape(k.auth_failures("")) + r"<addr>$")]
    quoted = re.findall(r"'(\{gw\}:[^']*)'", doc)
    assert len(quoted) >= 10
    for key in quoted:
        assert any(p.match(key) for p in patterns), f"docs/operations.md quotes an unknown key {key!r}"
    spend_fields = ("cost:total", "reserved:total", "req:total", "cost:key:")
    for field in spend_fields:
        assert field in doc and f"`{field.rstrip(':')}" in (ROOT / "lua" / "README.md").read_text()
