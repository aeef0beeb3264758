"""SpaceWatch: a news-monitoring pipeline for space diplomacy.

fetch -> normalize -> store -> extract (full text) -> entities (NER) -> match -> store ->
digest / query.
"""

__version__ = "0.1.0"
