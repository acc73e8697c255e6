"""Weaviate's `en` stopword preset (adapters/repos/db/inverted/stopwords/presets.go).

Data only, no client: the backup filter language needs it to know which text literals
Weaviate would drop, and the test server needs it to drop them the way Weaviate does.
One copy, so the two cannot drift apart; it changes only when Weaviate's preset does.
"""

from __future__ import annotations

EN_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
