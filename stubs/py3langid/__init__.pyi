# py3langid ships no type information: the identifier pipeline/language.py loads.
