"""Backup and restore of a multi-tenant collection, with weaviate-client and the REST session.

The test server enforces multi-tenancy as Weaviate 1.32 does (a read or write without a
tenant is refused), so these tests fail if any step forgets the tenant. The collection
is made with weaviate-client's own API, not ours: tenants A and B share an object id
(each tenant is its own shard), tenant C is empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.tenants import Tenant, TenantActivityStatus

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.export import BackupOptions, backup_collection
from elysia_pipelines.backups.layout import read_manifest
from elysia_pipelines.backups.reader import open_backup
from elysia_pipelines.backups.restore import (
    RestoreOptions,
    restore_backup,
    restore_roundtrip_check,
)
from elysia_pipelines.backups.verify import verify_backup
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.schema import CollectionSpec, ensure_collection
from elysia_pipelines.weaviate.target import WeaviateTarget
from elysia_pipelines_tests.backups.test_restore import client_or_rest, source_documents
from elysia_pipelines_tests.support import run_cli
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

NAME = "Tenanted"
TENANTS = {"alpha": 12, "beta": 7, "gamma": 0}
# {tenant: {uuid: (properties, vector)}}
Tenants = dict[str, dict[str, tuple[dict, list]]]


def _create(client: weaviate.WeaviateClient) -> Tenants:
    """The collection, its tenants and objects; {tenant: {uuid: (properties, vector)}}."""
    client.collections.create(
        NAME,
        properties=[
            Property(name="path", data_type=DataType.TEXT),
            Property(name="content", data_type=DataType.TEXT),
            Property(name="size_bytes", data_type=DataType.INT),
        ],
        vectorizer_config=Configure.Vectorizer.none(),
        multi_tenancy_config=Configure.multi_tenancy(enabled=True, auto_tenant_creation=True),
    )
    coll = client.collections.get(NAME)
    coll.tenants.create([Tenant(name=t) for t in TENANTS])
    docs = source_documents(max(TENANTS.values()), dim=8)
    expected: Tenants = {}
    for tenant, n in TENANTS.items():
        chosen = docs[:n] if tenant == "alpha" else docs[-n:] if n else []
        objects = {}
        for uuid, props, vector in chosen:
            kept = {k: props[k] for k in ("path", "content", "size_bytes")}
            kept["content"] = f"{tenant}: {kept['content'][:200]}"
            objects[uuid] = (kept, vector)
        if objects:
            tenant_coll = coll.with_tenant(tenant)
            result = tenant_coll.data.insert_many(
                [
                    weaviate.classes.data.DataObject(properties=p, uuid=u, vector=v)
                    for u, (p, v) in objects.items()
                ]
            )
            assert not result.errors
        expected[tenant] = objects
    shared = set(expected["alpha"]) & set(expected["beta"])
    assert shared, "alpha and beta must share an object id"
    return expected


def _read(client: weaviate.WeaviateClient, name: str) -> Tenants:
    """{tenant: {uuid: (properties, vector)}} as weaviate-client reads them."""
    coll = client.collections.get(name)
    out: Tenants = {}
    for tenant in coll.tenants.get():
        objects = coll.with_tenant(tenant).iterator(include_vector=True)
        out[tenant] = {
            str(o.uuid): (
                {k: v for k, v in o.properties.items() if v is not None},
                [pytest.approx(x, rel=1e-6) for x in o.vector["default"]],
            )
            for o in objects
        }
    return out


def _config(client: weaviate.WeaviateClient, name: str) -> Any:
    return client.collections.get(name).config.get().multi_tenancy_config


@pytest.fixture
def expected(weaviate_client: weaviate.WeaviateClient) -> Tenants:
    return _create(weaviate_client)


@pytest.fixture(params=["client", "rest"])
def handle(
    request: pytest.FixtureRequest,
    weaviate_client: weaviate.WeaviateClient,
    weaviate_endpoint: WeaviateEndpoint,
) -> Iterator[Any]:
    grpc = f"{weaviate_endpoint.grpc_host}:{weaviate_endpoint.grpc_port}"
    target = WeaviateTarget.for_url(weaviate_endpoint.url, grpc)
    yield from client_or_rest(request.param, weaviate_client, target)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_multi_tenant_round_trip(
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
    handle: Any,
    fmt: str,
) -> None:
    result = backup_collection(handle, NAME, settings, BackupOptions(format=fmt))
    assert result.object_count == sum(TENANTS.values()) and result.tenant_count == 3
    manifest = read_manifest(result.path)
    assert manifest.format_version == 2
    assert manifest.tenants == [{"name": t, "objects": n} for t, n in TENANTS.items()]
    assert manifest.schema["multi_tenancy"] and manifest.schema["auto_tenant_creation"]
    with open_catalog(settings) as catalog:
        assert catalog.get(result.backup_id).tenant_count == 3
    assert verify_backup(result.backup_id, settings).ok  # schema with the tenant column

    reader = open_backup(result.backup_id, settings)
    report = restore_backup(
        reader, handle, RestoreOptions(target_collection="TenantedCopy", settings=settings)
    )
    assert report.collection_created and report.tenants_created == 3
    assert report.created == sum(TENANTS.values()) and report.failed == 0
    config = _config(weaviate_client, "TenantedCopy")
    assert config.enabled and config.auto_tenant_creation and not config.auto_tenant_activation
    restored = _read(weaviate_client, "TenantedCopy")
    assert {t: len(o) for t, o in restored.items()} == TENANTS
    assert restored == expected

    # Restoring again into the now existing tenants reads each tenant's objects back.
    again = restore_backup(
        reader,
        handle,
        RestoreOptions(target_collection="TenantedCopy", incremental=True, settings=settings),
    )
    assert again.unchanged == sum(TENANTS.values()) and again.tenants_created == 0
    assert again.created == again.updated == again.failed == 0


def test_restore_into_existing_tenants_adds_the_missing_one(
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
) -> None:
    result = backup_collection(weaviate_client, NAME, settings)
    coll = weaviate_client.collections.get(NAME)
    coll.tenants.remove(["beta"])
    some = next(iter(expected["alpha"]))
    coll.with_tenant("alpha").data.delete_by_id(some)
    report = restore_backup(
        open_backup(result.backup_id, settings),
        weaviate_client,
        RestoreOptions(strategy="skip", settings=settings, collect_ids=True),
    )
    assert report.tenants_created == 1 and any("beta" in note for note in report.notes)
    assert report.created == 1 + TENANTS["beta"] and report.skipped == TENANTS["alpha"] - 1
    assert _read(weaviate_client, NAME) == expected


def test_dry_run_names_the_tenants_and_writes_nothing(
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
) -> None:
    result = backup_collection(weaviate_client, NAME, settings)
    report = restore_backup(
        open_backup(result.backup_id, settings),
        weaviate_client,
        RestoreOptions(target_collection="Nowhere", dry_run=True, settings=settings),
    )
    assert report.tenants_created == 3 and report.created == sum(TENANTS.values())
    assert not weaviate_client.collections.exists("Nowhere")


def test_tenancy_mismatch_is_refused_before_any_write(
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
) -> None:
    mt_backup = backup_collection(weaviate_client, NAME, settings)
    ensure_collection(weaviate_client, CollectionSpec(name="Single"))
    with pytest.raises(ElysiaError, match=r"multi-tenant collection .* Single is single-tenant"):
        restore_backup(
            open_backup(mt_backup.backup_id, settings),
            weaviate_client,
            RestoreOptions(target_collection="Single", settings=settings),
        )
    single_backup = backup_collection(weaviate_client, "Single", settings)
    with pytest.raises(ElysiaError, match="single-tenant collection but Tenanted is multi"):
        restore_backup(
            open_backup(single_backup.backup_id, settings),
            weaviate_client,
            RestoreOptions(target_collection=NAME, settings=settings),
        )
    assert _read(weaviate_client, NAME) == expected


def test_inactive_tenant_is_refused_not_left_out(
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
    handle: Any,
) -> None:
    coll = weaviate_client.collections.get(NAME)
    coll.tenants.update([Tenant(name="beta", activity_status=TenantActivityStatus.INACTIVE)])
    with pytest.raises(ElysiaError, match=r"not active and cannot be read: beta \(INACTIVE\)"):
        backup_collection(handle, NAME, settings)
    assert not (settings.backups_dir / NAME).exists()


def test_roundtrip_check_of_a_multi_tenant_backup(
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
) -> None:
    result = backup_collection(weaviate_client, NAME, settings)
    check = restore_roundtrip_check(settings, weaviate_client, result.backup_id)
    assert check.ok, check
    assert check.restored_count == check.expected_count == sum(TENANTS.values())


def test_cli_backup_and_restore_of_a_multi_tenant_collection(
    weaviate_env: WeaviateEndpoint,
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
) -> None:
    backup = run_cli("col", "backup", NAME, "--json")
    assert backup.exit_code == 0, backup.output
    made = json.loads(backup.stdout)
    assert made["tenant_count"] == 3 and made["object_count"] == sum(TENANTS.values())
    restore = run_cli(
        "col", "restore", made["backup_id"], "--target-collection", "ViaCli", "--json"
    )
    assert restore.exit_code == 0, restore.output
    assert json.loads(restore.stdout)["tenants_created"] == 3
    assert _read(weaviate_client, "ViaCli") == expected
    assert _config(weaviate_client, "ViaCli").auto_tenant_creation


def test_lone_parquet_file_restores_into_its_tenants(
    settings: Settings,
    weaviate_client: weaviate.WeaviateClient,
    expected: Tenants,
) -> None:
    """Without a manifest the tenants come from the file's tenant column (empty ones are
    not in it)."""
    result = backup_collection(weaviate_client, NAME, settings)
    reader = open_backup(result.path / "data" / "part-00000.parquet", settings)
    assert reader.tenants == ["alpha", "beta"]
    report = restore_backup(
        reader, weaviate_client, RestoreOptions(target_collection="FromFile", settings=settings)
    )
    assert report.tenants_created == 2 and report.failed == 0
    assert _read(weaviate_client, "FromFile") == {t: expected[t] for t in ("alpha", "beta")}
