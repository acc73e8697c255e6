"""Contract tests: where-filters behave as Weaviate 1.32's inverted index does.

Stopwords drop out of filter values (a value of stopwords only is an error), `like`
knows only `*` and `?` (brackets are literal, as in paths like `app/[id]/page.tsx`),
filtering needs the index it reads, and the product's `--filter` expressions sent as
Weaviate filters (`backups/filters.to_weaviate`) select what its own evaluator selects.
They use the public client only, so they also run against a real Weaviate
(WEAVIATE_URL set before pytest starts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, StopwordsPreset, Tokenization
from weaviate.classes.query import Filter
from weaviate.collections import Collection
from weaviate.exceptions import WeaviateQueryError

from elysia_pipelines.backups.filters import compile_filter

pytestmark = pytest.mark.real_weaviate

UTC = dt.UTC


def _names(collection: Collection, flt: Any) -> list[str]:
    found = collection.query.fetch_objects(filters=flt, limit=100).objects
    return sorted(str(o.properties["name"]) for o in found)


@pytest.fixture
def texts(weaviate_client: weaviate.WeaviateClient, collection_name: str) -> Collection:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[
            Property(name="name", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
            Property(name="body", data_type=DataType.TEXT),  # word tokenization
            Property(name="path", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
            Property(
                name="hidden",
                data_type=DataType.TEXT,
                index_filterable=False,
                index_searchable=False,
            ),
            Property(name="size", data_type=DataType.INT, index_filterable=False),
        ],
    )
    collection.data.insert_many(
        [
            {"name": "a", "body": "the cat sat on the mat", "path": "app/[id]/page.tsx"},
            {"name": "b", "body": "a dog and a cat", "path": "app/i/page.tsx"},
            {"name": "c", "body": "birds sing", "path": "app/d/page.tsx"},
        ]
    )
    return collection


def test_stopwords_drop_out_of_a_word_filter_value(texts: Collection) -> None:
    by_body = Filter.by_property("body")
    assert _names(texts, by_body.equal("the cat")) == ["a", "b"]
    assert _names(texts, by_body.equal("cat on mat")) == ["a"]
    assert _names(texts, by_body.not_equal("the cat")) == ["c"]
    assert _names(texts, by_body.contains_any(["is birds", "mat"])) == ["a", "c"]
    assert _names(texts, by_body.like("ca*")) == ["a", "b"]


@pytest.mark.parametrize("value", ["the", "to be or not to be", "a", ""])
def test_a_stopword_only_value_is_an_error(texts: Collection, value: str) -> None:
    with pytest.raises(WeaviateQueryError, match="only stopwords provided"):
        texts.query.fetch_objects(filters=Filter.by_property("body").equal(value))


def test_stopwords_follow_the_collection_config(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[
            Property(name="name", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
            Property(name="body", data_type=DataType.TEXT),
        ],
        inverted_index_config=Configure.inverted_index(
            stopwords_preset=StopwordsPreset.NONE, stopwords_additions=["cat"]
        ),
    )
    collection.data.insert_many([{"name": "a", "body": "the cat"}, {"name": "b", "body": "cat"}])
    assert _names(collection, Filter.by_property("body").equal("the")) == ["a"]
    assert _names(collection, Filter.by_property("body").equal("the cat")) == ["a"]
    with pytest.raises(WeaviateQueryError, match="only stopwords provided"):
        collection.query.fetch_objects(filters=Filter.by_property("body").equal("cat"))


def test_like_treats_brackets_literally(texts: Collection) -> None:
    by_path = Filter.by_property("path")
    assert _names(texts, by_path.like("app/[id]/page.tsx")) == ["a"]
    assert _names(texts, by_path.like("app/[id]/*")) == ["a"]
    assert _names(texts, by_path.like("app/?/page.tsx")) == ["b", "c"]
    assert _names(texts, by_path.like("app/*/page.tsx")) == ["a", "b", "c"]
    assert _names(texts, by_path.like("app/[a-z]/page.tsx")) == []


def test_filtering_needs_an_index(texts: Collection) -> None:
    for flt in (Filter.by_property("hidden").equal("x"), Filter.by_property("size").equal(1)):
        with pytest.raises(WeaviateQueryError, match="requires inverted index"):
            texts.query.fetch_objects(filters=flt)
    with pytest.raises(WeaviateQueryError, match="Nullstate must be indexed"):
        texts.query.fetch_objects(filters=Filter.by_property("name").is_none(True))
    with pytest.raises(WeaviateQueryError, match=r"[Tt]imestamps must be indexed"):
        texts.query.fetch_objects(
            filters=Filter.by_creation_time().greater_than(dt.datetime.now(UTC))
        )
    with pytest.raises(WeaviateQueryError, match="Property length must be indexed"):
        texts.query.fetch_objects(filters=Filter.by_property("name", length=True).equal(1))


def test_an_int_filter_refuses_a_fraction(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name, properties=[Property(name="Count", data_type=DataType.INT)]
    )
    collection.data.insert({"count": 1})  # property names lose their capital first letter
    assert (
        len(collection.query.fetch_objects(filters=Filter.by_property("count").equal(1.0)).objects)
        == 1
    )
    with pytest.raises(WeaviateQueryError, match="received a floating point number"):
        collection.query.fetch_objects(filters=Filter.by_property("count").equal(1.2))


# ------------------------------------------------ the product's filters, end to end

TYPES = {
    "repo": "text",
    "path": "text",
    "language": "text",
    "size_bytes": "int",
    "score": "number",
    "archived": "boolean",
    "synced_at": "date",
    "tags": "text[]",
}


@pytest.fixture
def files(weaviate_client: weaviate.WeaviateClient, collection_name: str) -> Collection:
    """Field-tokenized text, as the product's file collections filter on whole values."""
    field = Tokenization.FIELD
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[
            Property(name="repo", data_type=DataType.TEXT, tokenization=field),
            Property(name="path", data_type=DataType.TEXT, tokenization=field),
            Property(name="language", data_type=DataType.TEXT, tokenization=field),
            Property(name="size_bytes", data_type=DataType.INT),
            Property(name="score", data_type=DataType.NUMBER),
            Property(name="archived", data_type=DataType.BOOL),
            Property(name="synced_at", data_type=DataType.DATE),
            Property(name="tags", data_type=DataType.TEXT_ARRAY, tokenization=field),
        ],
    )
    languages = ["python", "go", "rust", "markdown"]
    collection.data.insert_many(
        [
            {
                "repo": "a" if i % 2 else "b",
                "path": f"app/[id]/page{i}.tsx" if i % 5 == 0 else f"src/m{i}.py",
                "language": languages[i % 4],
                "size_bytes": i * 10,
                "score": i / 3,
                "archived": i % 3 == 0,
                "synced_at": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(days=i),
                "tags": ["x", f"t{i % 3}"],
            }
            for i in range(30)
        ]
    )
    return collection


@pytest.mark.parametrize(
    "text",
    [
        "language = 'go'",
        "language != 'go' and size_bytes >= 100",
        "not (language = 'go' or repo != 'b')",
        "not (language = 'go' and not archived = true)",
        "language in ('python', 'rust') or score < 2",
        "path like 'app/[id]/*'",
        "tags in ('t1') and synced_at > '2024-01-10'",
        "not language != 'markdown'",
        "not (path != 'src/m2.py' or tags not in ('t2'))",
    ],
)
def test_to_weaviate_selects_what_the_product_evaluates(files: Collection, text: str) -> None:
    """The server-side form of a `--filter` (no `not_`, refused before 1.33) is exact."""
    expr = compile_filter(text, TYPES)
    flt = expr.to_weaviate()
    assert flt is not None
    everything = files.query.fetch_objects(limit=100).objects
    want = sorted(str(o.uuid) for o in everything if expr.matches(o.properties))
    got = sorted(str(o.uuid) for o in files.query.fetch_objects(filters=flt, limit=100).objects)
    assert got == want and 0 < len(got) < len(everything), text
    assert files.aggregate.over_all(filters=flt, total_count=True).total_count == len(want)


@pytest.mark.parametrize("text", ["repo = 'a'", "repo in ('b', 'the')", "path like 'it'"])
def test_to_weaviate_leaves_stopword_values_to_the_product(files: Collection, text: str) -> None:
    """Weaviate 1.32 drops stopwords even from field-tokenized values (weaviate#9054) and
    refuses a value of stopwords only, so such a filter is evaluated by the product."""
    assert compile_filter(text, TYPES).to_weaviate() is None
    with pytest.raises(WeaviateQueryError, match="only stopwords provided"):
        files.query.fetch_objects(filters=Filter.by_property("repo").equal("a"))
