# pymorphy3 2.x has partial annotations but no py.typed: the part pipeline/russian.py uses.
from pymorphy3.analyzer import MorphAnalyzer as MorphAnalyzer
