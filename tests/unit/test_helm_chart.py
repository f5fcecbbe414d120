"""The Helm chart under deploy/helm, rendered and linted by Helm's own engine (the Go SDK in
the helm-python-sdk wheel; no cluster is contacted): what it makes with the default values and
with the usual overrides, that the hooks run in order before the pods, that the pods probe the
endpoints the service serves, and that every setting it passes is one the service reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from services.core.settings import Settings

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "dutyledger"
REQUIRED = {"secrets": {"databaseUrl": "postgresql://dl:pw@db:5432/dl", "consoleSecret": "k" * 32}}


def render(**overrides: Any) -> list[dict[str, Any]]:
    values = _merge(REQUIRED, overrides)
    manifests = helm_python.Chart.load(CHART).render(
        values, name="dl", namespace="ops", is_install=True
    )
    yamls = [m for path, m in manifests.items() if path.endswith(".yaml")]  # not NOTES.txt
    return [d for m in yamls for d in yaml.safe_load_all(m) if d]


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def test_the_chart_lints_clean() -> None:
    report = helm_python.lint(CHART, REQUIRED, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []  # no warning either


def test_the_default_release() -> None:
    docs = render()
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("ConfigMap", "dl-dutyledger-config"),
        ("Deployment", "dl-dutyledger-api"),
        ("Deployment", "dl-dutyledger-worker"),
        ("HorizontalPodAutoscaler", "dl-dutyledger-worker"),
        ("Job", "dl-dutyledger-migrate"),
        ("Job", "dl-dutyledger-temporal-setup"),
        ("PersistentVolumeClaim", "dl-dutyledger-evidence"),
        ("PodDisruptionBudget", "dl-dutyledger-api"),
        ("Secret", "dl-dutyledger-secrets"),
        ("Service", "dl-dutyledger-api"),
        ("Service", "dl-dutyledger-worker"),
    ]
    config = one(docs, "ConfigMap", "dl-dutyledger-config")["data"]
    assert config["DUTYLEDGER_TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc:7233"
    assert config["DUTYLEDGER_PRODUCTION"] == "true"

    api_doc = one(docs, "Deployment", "dl-dutyledger-api")
    rolls = api_doc["spec"]["template"]["metadata"]["annotations"]
    assert {"checksum/config", "checksum/secret"} <= set(rolls)  # a changed setting rolls pods
    api = pod(api_doc)["containers"][0]
    assert api["args"] == ["api"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    worker_doc = one(docs, "Deployment", "dl-dutyledger-worker")
    assert "replicas" not in worker_doc["spec"]  # the autoscaler owns it
    worker = pod(worker_doc)["containers"][0]
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    assert config["DUTYLEDGER_WORKER_HEALTH_ADDRESS"].endswith(f":{ports['health']}")
    assert config["DUTYLEDGER_WORKER_METRICS_ADDRESS"].endswith(f":{ports['metrics']}")
    hpa = one(docs, "HorizontalPodAutoscaler", "dl-dutyledger-worker")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "dl-dutyledger-worker",
    }
    for service in (api, worker):  # the audit key and the evidence in every replica
        mounts = {m["name"]: m["mountPath"] for m in service["volumeMounts"]}
        assert config["DUTYLEDGER_AUDIT_KEY_FILE"].startswith(mounts["audit-key"])
        assert mounts["evidence"] == config["DUTYLEDGER_DATA_DIR"]


def test_migrations_and_temporal_setup_run_first_in_order() -> None:
    docs = render()

    def weight(doc: dict[str, Any]) -> int:
        notes = doc["metadata"]["annotations"]
        assert notes["helm.sh/hook"] == "pre-install,pre-upgrade", doc["metadata"]["name"]
        return int(notes["helm.sh/hook-weight"])

    settings = [
        one(docs, "ConfigMap", "dl-dutyledger-config"),
        one(docs, "Secret", "dl-dutyledger-secrets"),
    ]
    migrate = one(docs, "Job", "dl-dutyledger-migrate")
    setup = one(docs, "Job", "dl-dutyledger-temporal-setup")
    # What the jobs read exists before them; migrations before the namespace's setup.
    assert max(weight(d) for d in settings) < weight(migrate) < weight(setup)
    for job, args in ((migrate, ["migrate"]), (setup, ["temporal-setup"])):
        spec = pod(job)
        assert spec["restartPolicy"] == "Never"
        assert spec["containers"][0]["args"] == args
        # A pre-install hook cannot wait on a claim the release has not made yet.
        claims = [v for v in spec["volumes"] if "persistentVolumeClaim" in v]
        assert claims == []


def test_the_usual_overrides() -> None:
    docs = render(
        secrets={"existingSecret": "dl-prod", "databaseUrl": "", "consoleSecret": ""},
        worker={"autoscaling": {"enabled": False}, "replicas": 4},
        persistence={"existingClaim": "evidence-nfs"},
        serviceMonitor={"enabled": True, "labels": {"release": "kube-prometheus"}},
        temporal={"tls": {"enabled": True, "secretName": "temporal-mtls", "withCa": True}},
        image={"tag": "2027.1"},
    )
    kinds = {d["kind"] for d in docs}
    assert "Secret" not in kinds and "HorizontalPodAutoscaler" not in kinds
    assert "PersistentVolumeClaim" not in kinds
    worker_doc = one(docs, "Deployment", "dl-dutyledger-worker")
    assert worker_doc["spec"]["replicas"] == 4
    worker = pod(worker_doc)
    assert worker["containers"][0]["image"] == "registry.example.org/dutyledger:2027.1"
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in worker["containers"][0]["env"]}
    assert refs == {"dl-prod"}
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in worker["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["evidence-nfs"]
    config = one(docs, "ConfigMap", "dl-dutyledger-config")["data"]
    assert config["DUTYLEDGER_TEMPORAL_TLS_CA"] == "/run/secrets/temporal-tls/ca.crt"
    monitor = one(docs, "ServiceMonitor", "dl-dutyledger")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [
        ("http", "/metrics"),
        ("metrics", "/metrics"),
    ]


def test_a_release_without_its_database_is_refused_by_name() -> None:
    with pytest.raises(helm_python.HelmError, match=r"secrets\.databaseUrl"):
        helm_python.Chart.load(CHART).render({}, name="dl", namespace="ops")


def test_every_setting_the_chart_passes_is_one_the_service_reads() -> None:
    known = {f"DUTYLEDGER_{name.upper()}" for name in Settings.model_fields}
    docs = render(
        temporal={"tls": {"enabled": True, "secretName": "t", "withCa": True}},
        api={"forwardedAllowIps": "10.0.0.0/8"},
    )
    passed = set(one(docs, "ConfigMap", "dl-dutyledger-config")["data"])
    api = pod(one(docs, "Deployment", "dl-dutyledger-api"))["containers"][0]
    passed |= {e["name"] for e in api["env"]}
    assert passed - known == set()
