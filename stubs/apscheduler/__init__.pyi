# APScheduler 3 ships no type information: these stubs declare the part pipeline/daemon.py uses.
