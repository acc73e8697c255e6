"""Multi-tenancy as Weaviate 1.32 enforces it: tenants CRUD, activity, tenant-scoped data.

Marked `real_weaviate`: the messages are Weaviate's own (`adapters/repos/db/index.go`
validateMultiTenancy and tenant lookup), so the same tests run against a real node.
"""

from __future__ import annotations

from typing import Any

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import Filter
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateDeleteManyError,
    WeaviateInsertManyAllFailedError,
    WeaviateQueryError,
)

pytestmark = pytest.mark.real_weaviate


@pytest.fixture
def mt(weaviate_client: weaviate.WeaviateClient, collection_name: str) -> Any:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[Property(name="name", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(),
        multi_tenancy_config=Configure.multi_tenancy(enabled=True),
    )
    return collection


def test_tenants_create_get_update_remove(mt: Any) -> None:
    mt.tenants.create([Tenant(name="a"), Tenant(name="b", activity_status="INACTIVE")])
    mt.tenants.create("a")  # existing tenants are left as they are
    tenants = mt.tenants.get()
    assert {n: t.activity_status for n, t in tenants.items()} == {
        "a": TenantActivityStatus.ACTIVE,
        "b": TenantActivityStatus.INACTIVE,
    }
    assert mt.tenants.exists("a") and not mt.tenants.exists("zz")
    assert mt.tenants.get_by_name("b").activity_status == TenantActivityStatus.INACTIVE
    assert set(mt.tenants.get_by_names(["b", "zz"])) == {"b"}
    mt.tenants.activate("b")
    assert mt.tenants.get()["b"].activity_status == TenantActivityStatus.ACTIVE
    mt.tenants.remove(["a"])
    assert set(mt.tenants.get()) == {"b"}
    with pytest.raises(UnexpectedStatusCodeError):
        mt.tenants.create("bad name!")


def test_data_is_scoped_per_tenant(mt: Any) -> None:
    mt.tenants.create(["a", "b"])
    a, b = mt.with_tenant("a"), mt.with_tenant("b")
    uid = a.data.insert({"name": "alpha"}, vector=[1.0, 0.0])
    b.data.insert({"name": "alpha"}, vector=[1.0, 0.0], uuid=uid)  # same id, other tenant
    b.data.insert({"name": "beta"}, vector=[0.0, 1.0])
    assert len(a.query.fetch_objects().objects) == 1
    assert len(b.query.fetch_objects().objects) == 2
    assert a.aggregate.over_all(total_count=True).total_count == 1
    assert a.data.exists(uid) and b.data.exists(uid)
    a.data.delete_by_id(uid)
    assert not a.data.exists(uid) and b.data.exists(uid)
    result = b.data.delete_many(where=Filter.by_property("name").equal("beta"))
    assert result.matches == 1
    assert len(b.query.fetch_objects().objects) == 1


def test_requests_without_or_with_unknown_tenant_are_refused(mt: Any) -> None:
    mt.tenants.create("a")
    with pytest.raises(UnexpectedStatusCodeError, match="multi-tenancy enabled, but request"):
        mt.data.insert({"name": "x"})
    with pytest.raises(WeaviateInsertManyAllFailedError, match="request was without tenant"):
        mt.data.insert_many([{"name": "x"}])
    with pytest.raises(WeaviateQueryError, match="multi-tenancy enabled, but request"):
        mt.query.fetch_objects()
    with pytest.raises(WeaviateQueryError, match='tenant not found: "nobody"'):
        mt.with_tenant("nobody").query.fetch_objects()
    with pytest.raises(WeaviateDeleteManyError, match="without tenant"):
        mt.data.delete_many(where=Filter.by_property("name").equal("x"))


def test_inactive_tenant_is_refused_until_activated(mt: Any) -> None:
    mt.tenants.create("a")
    a = mt.with_tenant("a")
    a.data.insert({"name": "kept"}, vector=[1.0, 0.0])
    mt.tenants.deactivate("a")
    with pytest.raises(WeaviateQueryError, match="tenant not active: 'a'"):
        a.query.fetch_objects()
    mt.tenants.activate("a")
    assert [o.properties["name"] for o in a.query.fetch_objects().objects] == ["kept"]


def test_single_tenant_class_refuses_a_tenant(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    plain = weaviate_client.collections.create(
        collection_name, vector_config=Configure.Vectors.self_provided()
    )
    with pytest.raises(WeaviateQueryError, match="multi-tenancy disabled, but request"):
        plain.with_tenant("a").query.fetch_objects()
    with pytest.raises(UnexpectedStatusCodeError):
        plain.tenants.create("a")


def test_auto_tenant_creation_and_activation(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    auto = weaviate_client.collections.create(
        collection_name,
        vector_config=Configure.Vectors.self_provided(),
        multi_tenancy_config=Configure.multi_tenancy(
            enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
        ),
    )
    auto.with_tenant("new").data.insert_many([{"name": "x"}])
    assert set(auto.tenants.get()) == {"new"}
    auto.tenants.deactivate("new")
    assert len(auto.with_tenant("new").query.fetch_objects().objects) == 1
    assert auto.tenants.get()["new"].activity_status == TenantActivityStatus.ACTIVE


def test_enabling_multi_tenancy_later_is_refused(
    weaviate_client: weaviate.WeaviateClient,
    collection_name: str,
    weaviate_endpoint: Any,
) -> None:
    import httpx

    weaviate_client.collections.create(collection_name)
    url = f"{weaviate_endpoint.url}/v1/schema/{collection_name}"
    schema = httpx.get(url).json()
    schema["multiTenancyConfig"]["enabled"] = True
    answer = httpx.put(url, json=schema)
    assert answer.status_code == 422
    assert "multi-tenancy" in answer.text


@pytest.mark.weaviate_test_server_only
def test_readonly_shard_refuses_writes(mt: Any) -> None:
    mt.tenants.create("a")
    a = mt.with_tenant("a")
    a.data.insert({"name": "x"}, vector=[1.0, 0.0])
    assert mt.config.update_shards(status="READONLY", shard_names="a") == {"a": "READONLY"}
    with pytest.raises(WeaviateInsertManyAllFailedError, match="store is read-only"):
        a.data.insert_many([{"name": "y"}])
    mt.config.update_shards(status="READY", shard_names="a")
    assert not a.data.insert_many([{"name": "y"}]).has_errors


@pytest.mark.weaviate_test_server_only
def test_backup_and_restore_keep_tenants(weaviate_client: weaviate.WeaviateClient, mt: Any) -> None:
    mt.tenants.create(["a", Tenant(name="b", activity_status="INACTIVE")])
    uid = mt.with_tenant("a").data.insert({"name": "in a"}, vector=[1.0, 0.0])
    weaviate_client.backup.create(backup_id="mt", backend="filesystem", wait_for_completion=True)
    weaviate_client.collections.delete(mt.name)
    weaviate_client.backup.restore(backup_id="mt", backend="filesystem", wait_for_completion=True)
    restored = weaviate_client.collections.get(mt.name)
    assert {n: t.activity_status for n, t in restored.tenants.get().items()} == {
        "a": TenantActivityStatus.ACTIVE,
        "b": TenantActivityStatus.INACTIVE,
    }
    obj = restored.with_tenant("a").query.fetch_object_by_id(uid)
    assert obj is not None and obj.properties["name"] == "in a"
    with pytest.raises(WeaviateQueryError, match="without tenant"):
        restored.query.fetch_objects()
