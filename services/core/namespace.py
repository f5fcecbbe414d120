"""The Temporal namespace dutyledger runs in, made on a cluster that lacks it: ``dutyledger
temporal-setup`` calls this before registering the search attributes, so a fresh cluster (or
the compose file's bare Temporal server) needs nothing set up by hand. The embedded dev server
has its ``default`` namespace already."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


async def ensure_namespace(client: Client, namespace: str, retention: timedelta) -> bool:
    """Register ``namespace`` with ``retention`` (how long closed workflows' histories stay)
    unless it exists; True when this call made it. An existing namespace is left as it is:
    its retention is the operator's to change."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return False
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    keep = Duration()
    keep.FromTimedelta(retention)
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=keep)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:  # a twin job made it meanwhile
            raise
        await _until_known(client, namespace)
        return False
    await _until_known(client, namespace)
    return True


async def _until_known(
    client: Client, namespace: str, wait: timedelta = timedelta(minutes=1)
) -> None:
    """A new namespace reaches the server's other caches some seconds after it is made (the
    operator service answers NOT_FOUND until then): wait for it, so what follows can use it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait.total_seconds()
    while True:
        try:
            await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        await asyncio.sleep(0.5)
