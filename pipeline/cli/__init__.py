"""The ``spacewatch`` command line: the group, its entry point, and the one place where
every command is registered.

Only this package talks to the terminal. Library errors (:class:`SpaceWatchError`) become one
line on stderr and a non-zero exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
from pathlib import Path

import click
from rich.text import Text

from .. import __version__
from ..errors import SpaceWatchError
from ..store import damaged_db_message, is_damaged
from .context import Context, err, out, utf8_output

#: The --db of this run, for the last-resort message about a damaged database file.
_db_path_in_use: Path | None = None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=lambda: os.environ.get("SPACEWATCH_DB", "spacewatch.db"),
              show_default="./spacewatch.db or $SPACEWATCH_DB", metavar="PATH",
              help="SQLite database file.")
@click.option("--config", "config", default="feeds.yaml", show_default=True, metavar="PATH",
              help="Feed list and settings.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
@click.version_option(__version__, prog_name="spacewatch")
@click.pass_context
def cli(ctx: click.Context, db: str, config: str, verbose: bool) -> None:
    """SpaceWatch: news monitoring for space diplomacy.

    Fetches the feeds in feeds.yaml, finds the agencies, officials, crews and programs
    they mention, scores every article against the seed stories in seeds/, and keeps the
    result as a queryable event log in SQLite.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        out.width = int(columns)  # COLUMNS=80 spacewatch status: tables fit 80 columns
    elif not out.is_terminal:
        out.width = 180  # piped output: wide tables rather than folded cells
    global _db_path_in_use
    _db_path_in_use = Path(db)
    ctx.obj = Context(db, config, verbose)


def main() -> None:
    """Console-script entry point.

    Exit codes: 0 done; 1 done, but some inputs failed (a feed, a bad input line); 2 nothing
    done: a usage, configuration, input or database error (one line on stderr); 130 Ctrl-C.
    """
    utf8_output()
    try:
        cli.main(standalone_mode=False, prog_name="spacewatch")
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SpaceWatchError as exc:
        err.print(Text.assemble(("error:", "bold red"), f" {exc}"))
        sys.exit(2)
    except sqlite3.DatabaseError as exc:
        # Last resort: the Store turns a damaged file into a StoreError where it can.
        if not is_damaged(exc):
            raise
        err.print(Text.assemble(("error:", "bold red"), " " + damaged_db_message(
            _db_path_in_use or "the database")))
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)



# -- the one place commands are registered -------------------------------------------------
# The command modules import the shared context, never this group, so there is no cycle.
from . import (  # noqa: E402
    alerts,
    analysis,
    curation,
    doctor,
    events,
    feeds,
    query,
    seeds,
    service,
    stories,
    subscriptions,
)

for _command in (feeds.init, feeds.fetch, feeds.status, service.demo, analysis.analyze,
                 analysis.import_, analysis.entities, analysis.reprocess, events.seeds,
                 events.rematch, events.explain, query.query, query.search, query.serve,
                 service.run, service.digest, subscriptions.feeds, doctor.doctor, alerts.alerts,
                 stories.story):
    cli.add_command(_command)
for _sub in (curation.list_, curation.merge, curation.ban, curation.promote):
    analysis.entities.add_command(_sub)
events.seeds.add_command(seeds.add)
