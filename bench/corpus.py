"""A deterministic corpus of news-like articles for the benchmarks (generated, never fetched).

Sentences are assembled from templates and a cast of agencies, officials, crews, programs
and places, so NER has realistic work: ~60 % of sentences name at least one entity.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

AGENCIES = ["NASA", "Roscosmos", "the European Space Agency", "JAXA", "ISRO", "CNSA",
            "the Canadian Space Agency", "the U.S. space agency"]
PEOPLE = [("Sean Duffy", "acting NASA Administrator"), ("Dmitry Bakanov", "head of Roscosmos"),
          ("Josef Aschbacher", "ESA Director General"), ("Maria Zakharova",
                                                         "Foreign Ministry spokesperson"),
          ("Jared Isaacman", "NASA Administrator"), ("Sergei Krikalev", "Roscosmos executive"),
          ("Dana Weigel", "ISS program manager"), ("Elena Voronova", "deputy minister"),
          ("Thomas Reyes", "senior analyst"), ("Amelia Hart", "committee chair")]
CREW = ["Oleg Platonov", "Zena Cardman", "Mike Fincke", "Kimiya Yui", "Christopher Williams",
        "Sergey Ryzhikov", "Anne McClain", "Kirill Peskov", "Jonny Kim", "Suni Williams"]
PROGRAMS = ["the International Space Station", "the cross-flight program", "Artemis",
            "the Artemis Accords", "the International Lunar Research Station",
            "the Lunar Gateway", "the commercial crew program", "the seat swap agreement"]
CRAFT = ["Soyuz MS-28", "a Progress cargo ship", "Crew Dragon", "Starliner", "Tiangong",
         "the Orion capsule", "Starship", "Cygnus"]
PLACES = ["Houston", "Moscow", "Baikonur", "Cape Canaveral", "Washington", "Vienna", "Tokyo",
          "Star City", "Paris", "Bengaluru"]
COMPANIES = ["SpaceX", "Boeing", "Axiom Space", "Blue Origin", "Northrop Grumman", "Vast",
             "RSC Energia", "Airbus"]
FILLER = ["officials said the schedule remained tight", "the budget request was still under "
          "review", "engineers completed a series of tests", "the agreement covers several "
          "years of joint work", "analysts expect further talks later this year", "the plan "
          "depends on funding decisions in Congress", "negotiators met for two days",
          "the review found no major problems", "the mission will carry new experiments",
          "a final decision is expected next month", "the station's deorbit schedule was "
          "discussed"]
TEMPLATES = [
    "{person}, the {title}, said on {day} that {filler}.",
    "{agency} and {agency2} discussed {program} in {place}, where {filler}.",
    "Cosmonaut {crew} will fly aboard {craft} with {crew2}, {agency} said.",
    "According to {company}, {filler}, and work on {craft} continues.",
    "The meeting in {place} focused on {program}; {filler}.",
    "{title_cap} {person} told reporters in {place} that {program} would continue.",
    "In {place}, {filler}, while {company} prepared {craft} for launch.",
    "Observers noted that {filler}.",
    "The report, published on {day}, said {filler} and that {filler2}.",
    "{crew} trained in {place} for a mission to {program}.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@dataclass
class Doc:
    """One generated article."""

    title: str
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split()) + len(self.title.split())


def sentence(rng: random.Random) -> str:
    person, title = rng.choice(PEOPLE)
    return rng.choice(TEMPLATES).format(
        person=person, title=title, title_cap=title[:1].upper() + title[1:],
        agency=rng.choice(AGENCIES), agency2=rng.choice(AGENCIES),
        program=rng.choice(PROGRAMS), place=rng.choice(PLACES), crew=rng.choice(CREW),
        crew2=rng.choice(CREW), craft=rng.choice(CRAFT), company=rng.choice(COMPANIES),
        filler=rng.choice(FILLER), filler2=rng.choice(FILLER), day=rng.choice(DAYS))


def article(rng: random.Random, min_words: int = 400, max_words: int = 1200) -> Doc:
    target = rng.randint(min_words, max_words)
    paragraphs, words = [], 0
    while words < target:
        para = " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))
        paragraphs.append(para[0].upper() + para[1:])
        words += len(para.split())
    title = sentence(rng).rstrip(".")
    return Doc(title=title[0].upper() + title[1:], text="\n\n".join(paragraphs))


def corpus(n: int, seed: int = 2025, min_words: int = 400, max_words: int = 1200) -> list[Doc]:
    """``n`` articles, the same for the same seed."""
    rng = random.Random(seed)
    return [article(rng, min_words, max_words) for _ in range(n)]
