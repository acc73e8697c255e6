"""The async client (`weaviate.use_async_with_custom`) against the same contract."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import Filter

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer


@pytest.mark.real_weaviate
def test_async_client_end_to_end(
    weaviate_endpoint: WeaviateEndpoint, unique_collection_name: str
) -> None:
    name = unique_collection_name

    async def scenario() -> None:
        async with weaviate_endpoint.async_client(skip_init_checks=False) as client:
            assert await client.is_ready()
            try:
                collection = await client.collections.create(
                    name,
                    properties=[
                        Property(name="path", data_type=DataType.TEXT),
                        Property(name="size", data_type=DataType.INT),
                    ],
                    vector_config=Configure.Vectors.self_provided(),
                )
                result = await collection.data.insert_many(
                    [
                        weaviate.classes.data.DataObject(
                            properties={"path": f"f{i}.py", "size": i},
                            uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"async-{i}"),
                            vector=[1.0, float(i)],
                        )
                        for i in range(120)
                    ]
                )
                assert result.errors == {}
                assert name in await client.collections.list_all()
                assert (await collection.config.get()).name == name

                big = await collection.query.fetch_objects(
                    filters=Filter.by_property("size").greater_or_equal(100), limit=50
                )
                assert sorted(o.properties["size"] for o in big.objects) == list(range(100, 120))

                seen = [o.properties["size"] async for o in collection.iterator()]
                assert sorted(seen) == list(range(120))

                by_id = await collection.query.fetch_object_by_id(
                    uuid.uuid5(uuid.NAMESPACE_URL, "async-7")
                )
                assert by_id is not None and by_id.properties["size"] == 7

                near = await collection.query.near_vector([1.0, 3.0], limit=1)
                assert near.objects[0].properties["size"] == 3

                counted = await collection.aggregate.over_all(
                    total_count=True, filters=Filter.by_property("size").less_than(10)
                )
                assert counted.total_count == 10

                deleted = await collection.data.delete_many(
                    where=Filter.by_property("size").less_than(10), verbose=True
                )
                assert deleted.successful == 10
                assert await collection.data.delete_by_id(
                    uuid.uuid5(uuid.NAMESPACE_URL, "async-50")
                )
                total = await collection.aggregate.over_all(total_count=True)
                assert total.total_count == 109
            finally:
                await client.collections.delete(name)
            assert not await client.collections.exists(name)

    asyncio.run(scenario())


@pytest.mark.weaviate_test_server_only
def test_async_client_sees_faults_then_recovers(weaviate_server: WeaviateTestServer) -> None:
    endpoint = WeaviateEndpoint.for_server(weaviate_server)

    async def scenario() -> None:
        async with endpoint.async_client() as client:
            collection = await client.collections.create("Docs")
            weaviate_server.faults.throttle_next(1, "batch")
            with pytest.raises(weaviate.exceptions.WeaviateBaseError, match="too many requests"):
                await collection.data.insert_many([{"n": 1}])
            weaviate_server.faults.fail_next(1, "schema")
            with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError):
                await client.collections.list_all()
            assert (await collection.data.insert_many([{"n": 2}])).errors == {}
            assert (await collection.aggregate.over_all(total_count=True)).total_count == 1

    asyncio.run(scenario())
