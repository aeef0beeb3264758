# navec ships no type information: only loading, which pipeline/russian.py hands to slovnet.
from navec.navec import Navec as Navec
