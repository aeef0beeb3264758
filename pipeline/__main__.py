"""``python -m pipeline`` runs the ``spacewatch`` command line."""

from .cli import main

if __name__ == "__main__":
    main()
