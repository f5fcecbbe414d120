"""The deploy files, checked for what can be checked on a machine without a Docker engine: the
compose file's start order (on health, not on start), restart policies, probes, images built
from the repository, Temporal without the deprecated auto-setup image; the production image
without the dev server. The Helm chart is rendered by Helm itself: test_helm_chart.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ONE_SHOT = {"migrate", "temporal-schema", "temporal-setup"}  # jobs that run once and exit


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services: dict[str, Any] = doc["services"]
    return services


def test_services_start_on_health_and_restart() -> None:
    services = compose()
    for name, spec in services.items():
        if name not in ONE_SHOT:
            assert spec.get("restart") == "unless-stopped", name
        for needed, condition in spec.get("depends_on", {}).items():
            assert isinstance(condition, dict), (name, needed)  # a condition, not a bare start
            wanted = "service_completed_successfully" if needed in ONE_SHOT else "service_healthy"
            assert condition["condition"] == wanted, (name, needed)
            assert "healthcheck" in services[needed] or needed in ONE_SHOT, needed


def test_our_images_are_built_here_and_probe_themselves() -> None:
    services = compose()
    ours = {n: s for n, s in services.items() if s.get("image", "").startswith("dutyledger")}
    assert set(ours) == {"migrate", "temporal-setup", "worker", "api"}
    for name, spec in ours.items():
        assert spec["build"]["dockerfile"] == "deploy/Dockerfile", name  # never pulled
    assert "readyz" in str(services["api"]["healthcheck"]["test"])
    worker = services["worker"]
    assert "9000/readyz" in str(worker["healthcheck"]["test"])
    assert worker["environment"]["DUTYLEDGER_WORKER_HEALTH_ADDRESS"].endswith(":9000")
    assert worker["environment"]["DUTYLEDGER_TEMPORAL_ADDRESS"] == "temporal:7233"  # merged


def test_temporal_is_the_server_alone_with_its_schemas_set_up_first() -> None:
    services = compose()
    assert not any("auto-setup" in s.get("image", "") for s in services.values())  # deprecated
    assert services["temporal"]["image"].startswith("temporalio/server:")
    schema = services["temporal-schema"]
    assert schema["image"].startswith("temporalio/admin-tools:")
    script = schema["command"][0]
    for db in ("temporal", "temporal_visibility"):
        assert db in script
    assert "update-schema" in script and "setup-schema -v 0.0" in script
    needs = services["temporal"]["depends_on"]
    assert needs == {"temporal-schema": {"condition": "service_completed_successfully"}}


def test_temporal_dispatches_activities_eagerly() -> None:
    """A rectification step's write is eager only where the server allows it (off by default)."""
    temporal = compose()["temporal"]
    path = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in temporal["volumes"]}
    config = yaml.safe_load((DEPLOY / mounts[path]).read_text())
    assert config["system.enableActivityEagerExecution"] == [{"value": True}]


def test_the_image_leaves_the_dev_server_out() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "rm -f .venv/bin/temporal .venv/bin/temporal-test-server" in dockerfile
