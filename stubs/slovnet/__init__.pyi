# slovnet ships no type information: the news NER as pipeline/russian.py uses it.
from slovnet.api import NER as NER
