"""Seed matching: score each article against each seed's profile, with an explanation.

A seed's profile has three parts, each weighted against a background corpus (the stored
articles) so that weights sharpen as the corpus grows:

- **entities** from the same NER stage, weighted by kind (the head of Roscosmos says more
  than a country) and rarity (IDF over articles), plus front-matter boosts;
- **terms**, TF-IDF over word tokens (stop words dropped);
- **phrases** such as "cross-flight" or "ISS extension": front-matter phrases plus the seed's
  own recurring two-word phrases.

The score in [0, 1] is ``0.5 * entities + 0.3 * lexical + 0.2 * phrases`` (each part
saturating in [0, 1]); shared generic vocabulary alone cannot reach the threshold because
the entity part carries half the weight and countries weigh little. Deterministic: the same
inputs give the same score and the same explanation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS as EN_STOP
from spacy.lang.ru.stop_words import STOP_WORDS as RU_STOP

from .config import Config, Settings
from .entities import analysis_text, get_analyzer
from .events import ArticleScores, Scoring, SeedScore
from .language import detect_language
from .records import (
    Explanation,
    Mention,
    Parts,
    PhraseHit,
    SharedEntity,
    TermWeight,
    Weights,
    iso,
    now_utc,
)
from .russian import get_lemmatizer, is_cyrillic
from .seeds import PROBLEMS_META_KEY, Seed, SeedSet, load_seeds, problems_to_json
from .store import Store

SCORER_VERSION = "3"  # 3: Russian terms and phrases by lemma (issue 13)
WEIGHTS = Weights(entities=0.5, lexical=0.3, phrases=0.2)
#: How much one entity of each kind says about a story (one weight per kind of
#: :data:`pipeline.records.ENTITY_KINDS`).
KIND_WEIGHT = {"OFFICIAL": 3.0, "CREW": 2.5, "PROGRAM": 2.5, "SPACECRAFT": 1.5,
               "AGENCY": 1.5, "COMPANY": 1.2, "GOVERNMENT": 1.0, "PERSON": 1.5,
               "ORGANIZATION": 0.8, "COUNTRY": 0.3, "PLACE": 0.3}
TOP_ENTITIES = 20
#: How many stored articles the term weights are counted on.
BACKGROUND_SAMPLE = 5000
TOP_TERMS = 150
TOP_AUTO_PHRASES = 8
#: Saturation points: an article covering this share of the seed reaches 1.0 on that part.
ENTITY_SATURATION = 0.45
LEXICAL_SATURATION = 0.35
PHRASE_SATURATION = 3.0
_WORD = re.compile(r"[^\W\d_](?:[\w'\u2019-]*[^\W_])?", re.U)
STOP = frozenset(EN_STOP) | frozenset(RU_STOP) | {"said", "says", "also", "would", "could"}


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of three letters or more, stop words removed; a Russian word
    is its lemma («затопления» → «затопление»), so every case form is one term."""
    out = []
    lemma = None
    for raw in _WORD.findall(text):
        if not raw.isascii() and is_cyrillic(raw):
            lemma = lemma or get_lemmatizer().lemma
            word = lemma(raw)
        else:
            word = raw.lower().replace("\u2019", "'")
            if word.endswith("'s"):
                word = word[:-2]
        if len(word) >= 3 and word not in STOP:
            out.append(word)
    return out


@functools.lru_cache(maxsize=16)
def _lemma_words(text: str) -> tuple[str, ...]:
    """Every word of ``text`` as its lemma (Russian) or lower-cased: the sequence a Russian
    phrase is looked for in."""
    return tuple(lemma for *_, lemma in get_lemmatizer().words(text))


def _count_phrase(phrase: str, text: str) -> int:
    """How often ``phrase`` occurs in ``text``: a Russian phrase in any case form (on the
    words' lemmas: «затопления МКС» is «затопление МКС»), any other as written, give or take
    case, spaces and hyphens."""
    if not is_cyrillic(phrase):
        return len(_phrase_pattern(phrase).findall(text))
    key = _lemma_words(phrase)
    words = _lemma_words(text)
    size = len(key)
    if not size:
        return 0
    return sum(1 for i in range(len(words) - size + 1) if words[i:i + size] == key)


@dataclass
class Background:
    """Document frequencies of terms and entities in the stored corpus."""

    n_docs: int = 0
    term_df: dict[str, int] = field(default_factory=dict)
    entity_df: dict[str, int] = field(default_factory=dict)
    term_docs: int | None = None  # size of the sample term_df was counted on (default n_docs)

    @classmethod
    def from_texts(cls, texts: Iterable[str],
                   entity_ids: Iterable[Iterable[str]] = ()) -> Background:
        term_df: Counter[str] = Counter()
        n = 0
        for text in texts:
            n += 1
            term_df.update(set(tokens(text)))
        entity_df: Counter[str] = Counter()
        for ids in entity_ids:
            entity_df.update(set(ids))
        return cls(n_docs=n, term_df=dict(term_df), entity_df=dict(entity_df))

    @staticmethod
    def idf(n: int, df: int) -> float:
        return math.log((n + 1) / (df + 1)) + 1.0

    def term_idf(self, term: str) -> float:
        n = self.n_docs if self.term_docs is None else self.term_docs
        return self.idf(n, self.term_df.get(term, 0))

    def entity_idf(self, entity_id: str) -> float:
        return self.idf(self.n_docs, self.entity_df.get(entity_id, 0))


@dataclass
class Profile:
    """What a seed is about, weighted."""

    seed_id: str
    title: str
    version: str
    entities: dict[str, tuple[float, str, str]]  # id -> (weight, name, kind)
    terms: dict[str, float]  # term -> L2-normalized tf-idf weight
    phrases: dict[str, float]  # phrase -> weight
    #: The seed's language: an article in another meets its terms and phrases through the
    #: names of the gazetteer entities it mentions (see :func:`bridge_text`).
    language: str = "en"

    def summary(self, n: int = 8) -> dict[str, Any]:
        """Top entities, terms and phrases, for ``spacewatch seeds`` and the seeds table."""
        ents = sorted(self.entities.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]
        terms = sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return {"entities": [{"id": k, "name": v[1], "kind": v[2], "weight": round(v[0], 2)}
                             for k, v in ents],
                "terms": [{"term": t, "weight": round(w, 3)} for t, w in terms],
                "phrases": sorted(self.phrases)}


@dataclass(frozen=True)
class MatchResult:
    """One (article, seed) score with its explanation."""

    seed_id: str
    score: float
    explanation: Explanation


def build_profile(seed: Seed, mentions: Sequence[Mention], background: Background) -> Profile:
    """A seed's weighted entities, terms and phrases."""
    counts = Counter(m.entity_id for m in mentions)
    info = {m.entity_id: (m.name, m.kind) for m in mentions}
    weighted = {}
    for eid, tf in counts.items():
        name, kind = info[eid]
        weight = (KIND_WEIGHT.get(kind, 0.5) * background.entity_idf(eid)
                  * (1.0 + math.log(tf)) * seed.entity_boosts.get(eid, 1.0))
        weighted[eid] = (weight, name, kind)
    for eid, boost in seed.entity_boosts.items():
        if eid not in weighted:  # a boosted entity the seed text does not name
            weighted[eid] = (KIND_WEIGHT["PROGRAM"] * boost, eid, "BOOST")
    top = dict(sorted(weighted.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_ENTITIES])
    body = f"{seed.title}\n{seed.text}"
    term_tf = Counter(tokens(body))
    vector = {t: (1.0 + math.log(tf)) * background.term_idf(t) for t, tf in term_tf.items()}
    vector = dict(sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TERMS])
    norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
    terms = {t: w / norm for t, w in vector.items()}
    phrases = _merge_phrases(_auto_phrases(body, background), seed.phrase_boosts.items())
    version = f"{seed.digest}-s{SCORER_VERSION}"  # as in matcher_version
    return Profile(seed_id=seed.id, title=seed.title, version=version, entities=top,
                   terms=terms, phrases=phrases, language=_language_of(body))


def phrase_key(phrase: str) -> str:
    """What makes two phrases the same for matching: case, spaces and hyphens aside
    ("ISS extension" = "iss extension", "cross-flight" = "cross flight"), as
    :func:`_phrase_pattern` finds them; a Russian phrase by its lemmas («затопления МКС» =
    «затопление МКС»)."""
    if is_cyrillic(phrase):
        return " ".join(_lemma_words(phrase))
    return " ".join(p for p in re.split(r"[\s\-]+", phrase.strip().lower()) if p)


def _merge_phrases(auto: Iterable[tuple[str, float]],
                   boosts: Iterable[tuple[str, float]]) -> dict[str, float]:
    """One entry per :func:`phrase_key`, with the largest weight given to any of its forms;
    a front-matter spelling wins over the seed's own (lower-cased) two-word phrase, so a
    phrase found twice is counted once."""
    merged: dict[str, tuple[str, float]] = {}
    for phrase, weight in (*auto, *boosts):
        key = phrase_key(phrase)
        if not key:
            continue
        old = merged.get(key)
        merged[key] = (phrase, max(weight, old[1]) if old else weight)
    return dict(sorted(merged.values()))


def _auto_phrases(text: str, background: Background) -> list[tuple[str, float]]:
    words = tokens(text)
    pairs = Counter(zip(words, words[1:], strict=False))
    scored = []
    for (a, b), count in pairs.items():
        if count < 2:
            continue
        rarity = min(background.term_idf(a), background.term_idf(b))
        scored.append((count * rarity, f"{a} {b}"))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [(phrase, 1.0) for _s, phrase in scored[:TOP_AUTO_PHRASES]]


@functools.lru_cache(maxsize=4096)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", phrase.strip()) if p]
    return re.compile(r"(?<!\w)" + r"[\s\-]+".join(parts) + r"(?!\w)", re.I)


@functools.lru_cache(maxsize=64)
def _language_of(text: str) -> str:
    return detect_language(text).code


def bridge_text(mentions: Sequence[Mention]) -> str:
    """The canonical names of the gazetteer entities ``mentions`` name, one per mention.

    An article in another language than its seed shares none of the seed's words; the
    gazetteer's names are the seed's language's words for what the article names («затопления
    МКС» → "ISS deorbit", «Бакановым» → "Dmitry Bakanov"), so the lexical and phrase parts
    read them with the article's own text. Model entities carry no translation and add nothing.
    """
    return "\n".join(m.name for m in mentions if m.origin == "gazetteer")


def score(profile: Profile, text: str, mentions: Sequence[Mention],
          background: Background, article_terms: Counter[str] | None = None,
          language: str | None = None) -> MatchResult:
    """Score one article (its analyzed text and mentions) against one seed profile.

    ``language`` is the article's (identified from ``text`` when not given); in another
    language than the seed's, :func:`bridge_text` is read with the text. ``article_terms``,
    when given, are the terms of both."""
    if (language or _language_of(text)) != profile.language:
        bridge = bridge_text(mentions)
        text = f"{text}\n{bridge}" if bridge else text
    # Entities: the share of the seed's entity weight the article names.
    art_counts = Counter(m.entity_id for m in mentions)
    total = sum(w for w, _n, _k in profile.entities.values()) or 1.0
    shared = []
    covered = 0.0
    for eid, (weight, name, kind) in profile.entities.items():
        tf = art_counts.get(eid, 0)
        if tf:
            presence = min(1.0, 0.6 + 0.2 * tf)
            covered += weight * presence
            shared.append(SharedEntity(id=eid, name=name, kind=kind, weight=round(weight, 3),
                                       mentions=tf))
    entity_part = min(1.0, covered / total / ENTITY_SATURATION)
    # Lexical: tf-idf cosine against the seed's top terms.
    terms = article_terms if article_terms is not None else Counter(tokens(text))
    vec = {t: (1.0 + math.log(tf)) * background.term_idf(t) for t, tf in terms.items()}
    norm = math.sqrt(sum(w * w for w in vec.values())) or 1.0
    contributions = {t: profile.terms[t] * w / norm for t, w in vec.items()
                     if t in profile.terms}
    cosine = sum(contributions.values())
    lexical_part = min(1.0, cosine / LEXICAL_SATURATION)
    # Phrases.
    hits = []
    for phrase, weight in sorted(profile.phrases.items()):
        count = _count_phrase(phrase, text)
        if count:
            hits.append(PhraseHit(phrase=phrase, weight=weight, count=count))
    phrase_part = min(1.0, sum(h.weight for h in hits) / PHRASE_SATURATION)
    value = (WEIGHTS.entities * entity_part + WEIGHTS.lexical * lexical_part
             + WEIGHTS.phrases * phrase_part)
    value = round(min(1.0, max(0.0, value)), 4)
    shared.sort(key=lambda e: (-e.weight, e.id))
    top_terms = sorted(contributions.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    explanation = Explanation(
        score=value,
        components=Parts(entities=round(entity_part, 4), lexical=round(lexical_part, 4),
                         phrases=round(phrase_part, 4), cosine=round(cosine, 4)),
        weights=WEIGHTS,
        entities=tuple(shared),
        terms=tuple(TermWeight(term=t, weight=round(w, 4)) for t, w in top_terms),
        phrases=tuple(hits),
        evidence=tuple(evidence(profile, mentions, text)),
        profile_version=profile.version,
    )
    return MatchResult(seed_id=profile.seed_id, score=value, explanation=explanation)


def evidence(profile: Profile, mentions: Sequence[Mention], text: str,
             limit: int = 3) -> list[str]:
    """One to three sentences of the article that carry the most seed evidence."""
    by_sentence: dict[str, float] = {}
    order: dict[str, int] = {}
    for m in mentions:
        if m.entity_id in profile.entities and m.sentence:
            by_sentence[m.sentence] = by_sentence.get(m.sentence, 0.0) + \
                profile.entities[m.entity_id][0]
            order.setdefault(m.sentence, m.start)
    for sentence in list(by_sentence):
        for phrase, weight in profile.phrases.items():
            if _count_phrase(phrase, sentence):
                by_sentence[sentence] += weight
    ranked = sorted(by_sentence, key=lambda s: (-by_sentence[s], order[s]))
    if not ranked:  # no entity evidence: fall back to the first sentence of the text
        first = text.strip().split("\n")[0][:300]
        return [first] if first else []
    return [s[:400] for s in ranked[:limit]]


def tfidf_cosine(seed_text: str, text: str, background: Background) -> float:
    """The baseline: plain TF-IDF cosine between seed and article, all terms."""
    def vector(t: str) -> dict[str, float]:
        return {w: (1.0 + math.log(c)) * background.term_idf(w)
                for w, c in Counter(tokens(t)).items()}

    a, b = vector(seed_text), vector(text)
    dot = sum(w * b.get(t, 0.0) for t, w in a.items())
    na = math.sqrt(sum(w * w for w in a.values())) or 1.0
    nb = math.sqrt(sum(w * w for w in b.values())) or 1.0
    return dot / (na * nb)


# -- the matcher: seed profiles weighed on the stored corpus -------------------------------


@dataclass
class Matcher:
    """Seed profiles plus the background they were weighted on."""

    profiles: list[Profile]
    background: Background
    threshold: float
    version: str
    seed_set: SeedSet | None = None  # the seeds profiled, and the files skipped

    @property
    def scoring(self) -> Scoring:
        """What every event this matcher writes records about how it was scored."""
        return Scoring(threshold=self.threshold, scorer_version=SCORER_VERSION,
                       corpus_version=self.background.n_docs, match_version=self.version)

    def results(self, text: str, mentions: Sequence[Mention],
                language: str | None = None) -> list[MatchResult]:
        """The text's score against every seed, in seed order (``language``: the text's,
        identified when not given)."""
        language = language or _language_of(text)
        own = Counter(tokens(text))
        bridged: Counter[str] | None = None
        out = []
        for profile in self.profiles:
            terms = own
            if language != profile.language:
                bridged = bridged if bridged is not None else \
                    own + Counter(tokens(bridge_text(mentions)))
                terms = bridged
            out.append(score(profile, text, mentions, self.background, terms, language))
        return out

    def scores(self, article_id: int, text: str, mentions: Sequence[Mention],
               nlp_version: str, language: str | None = None) -> ArticleScores:
        """One article's scores against every seed, ready for :meth:`Store.record_scores`
        (which decides, by the event log's rule, what they change)."""
        versions = {p.seed_id: p.version for p in self.profiles}
        return ArticleScores(
            article_id=article_id, pipeline_version=f"{nlp_version}|{self.version}",
            scores=tuple(SeedScore(seed_id=r.seed_id, score=r.score,
                                   explanation=r.explanation.to_json(),
                                   seed_version=versions[r.seed_id])
                         for r in self.results(text, mentions, language)))


def matcher_version(seeds: Sequence[Seed], settings: Settings) -> str:
    """What the stored events depend on: the seeds, the scorer and the threshold (not the
    background corpus, whose weights drift slowly; ``reprocess --all`` re-weighs)."""
    key = "|".join(sorted(f"{s.digest}-s{SCORER_VERSION}" for s in seeds))
    key += f"|t{settings.match_threshold}"
    return f"m{SCORER_VERSION}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def build_matcher(store: Store | None, config: Config, *, record: bool = True,
                  previous: SeedSet | None = None) -> Matcher:
    """Load the seeds, weigh them against the stored corpus (or, without a store, against
    the seeds alone) and, with ``record`` (matching runs only; listing is read-only), make
    the ``seeds`` table reflect them: removed seeds are retired, returning ones un-retired."""
    settings = config.settings
    analyzer = get_analyzer(settings)
    # An invalid seed file is skipped (and reported); with ``previous`` (the daemon), its
    # last good version stays in use.
    seed_set = load_seeds(config.seeds_folder, analyzer.gazetteer.entries).keeping(previous)
    seeds = seed_set.seeds
    seed_texts = [analysis_text(seed.title, seed.text) for seed in seeds]
    if store is not None:
        n, texts, entity_df = store.background_sample(BACKGROUND_SAMPLE)
        background = Background.from_texts(texts)
        background.n_docs, background.term_docs, background.entity_df = (n, len(texts),
                                                                         entity_df)
    else:
        background = Background.from_texts(seed_texts)
    profiles = [build_profile(seed, mentions, background)
                for seed, mentions in zip(seeds, analyzer.analyze(seed_texts), strict=True)]
    version = matcher_version(seeds, settings)
    now = iso(now_utc())
    if store is not None and record:
        store.sync_seeds([{"id": seed.id, "title": seed.title, "path": seed.path,
                           "date": seed.date, "url": seed.url,
                           "profile_version": profile.version,
                           "profile": json.dumps(profile.summary(), ensure_ascii=False),
                           "updated_at": now}
                          for seed, profile in zip(seeds, profiles, strict=True)], now,
                         skipped=[problem.path for problem in seed_set.problems])
        store.set_meta(PROBLEMS_META_KEY, problems_to_json(seed_set.problems), now)  # status
    return Matcher(profiles=profiles, background=background,
                   threshold=settings.match_threshold, version=version, seed_set=seed_set)


def score_text(matcher: Matcher, text: str, mentions: list[Mention],
               language: str | None = None) -> list[dict[str, Any]]:
    """Seed scores for an unstored text (``spacewatch analyze``'s JSON), best first."""
    results = sorted(matcher.results(text, mentions, language),
                     key=lambda r: (-r.score, r.seed_id))
    return [{"seed": r.seed_id, "score": r.score, "match": r.score >= matcher.threshold}
            for r in results]
