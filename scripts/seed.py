"""Load N generated notes fast: `make seed N=1000000` (or `python scripts/seed.py 1000000`).

Rows go in with PostgreSQL's COPY (asyncpg's binary `copy_records_to_table`), a batch at a time,
on a connection of the service's own `databases.Database`: the same settings, the same
DATABASE_URL (or the embedded server when it is unset), the migrations applied first. Notes are
added to those already there; `--truncate` empties the table first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import random
import sys
import time
from collections.abc import Callable

import asyncpg

from notes_api.config import Settings
from notes_api.database import open_database
from notes_api.development.database import database_or_embedded
from notes_api.idempotency.keys import idempotency_keys
from notes_api.notes.tables import notes
from notes_api.serving.logs import log_config

BAR_WIDTH = 30


# Words for the notes' text, as in real notes a few common and many rare: 3,000 made-up words
# (syllables, so that any language's text search configuration keeps them as they are).
SYLLABLES = ("ba", "ko", "mi", "ru", "te", "sa", "lo", "ni", "vu", "de", "ka", "po", "zi", "fe")
WORDS = tuple(
    SYLLABLES[a] + SYLLABLES[b] + SYLLABLES[c] + ("n" if n else "")
    for n in range(2)
    for a in range(14)
    for b in range(14)
    for c in range(14)
)[:3_000]


def words(i: int) -> str:
    """Three of WORDS for note `i`, the first ones far more often than the last (the cube of a
    uniform number: about 1 note in 14 has the commonest, 1 in 3,000,000 the rarest)."""
    dice = random.Random(i)
    return " ".join(WORDS[int(len(WORDS) * dice.random() ** 3)] for _ in range(3))


def batch(start: int, size: int) -> list[tuple[str, bool]]:
    """Notes `start` to `start + size - 1`: "Seeded note <i>: " and three words, one in three
    completed."""
    return [(f"Seeded note {i}: {words(i)}", i % 3 == 0) for i in range(start, start + size)]


def progress_bar(total: int, started: float) -> Callable[[int], None]:
    """A plain-text progress bar on stderr, redrawn in place on a terminal."""
    on_terminal = sys.stderr.isatty()

    def show(done: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        elapsed = max(time.perf_counter() - started, 1e-9)
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:>11,}/{total:,} notes"
            f"  {done / elapsed:>9,.0f}/s"
        )
        end = "\n" if done == total or not on_terminal else ""
        print(f"\r{line}" if on_terminal else line, end=end, file=sys.stderr, flush=True)

    return show


async def add_notes(
    connection: asyncpg.Connection,
    count: int,
    *,
    first: int = 1,
    batch_size: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """COPY `count` generated notes, numbered from `first`, a batch at a time; then ANALYZE, so
    that the planner knows the table's new size at once. (The benchmarks seed with it too.)"""
    done = 0
    while done < count:
        size = min(batch_size, count - done)
        await connection.copy_records_to_table(
            notes.name, records=batch(first + done, size), columns=["text", "completed"]
        )
        done += size
        if progress is not None:
            progress(done)
    await connection.execute(f"ANALYZE {notes.name}")


async def seed(settings: Settings, count: int, *, batch_size: int, truncate: bool) -> float:
    """Insert `count` notes; return the seconds the COPY took."""
    async with (
        open_database(settings) as database,
        database.connection() as connection,
    ):
        raw = connection.raw_connection
        if truncate:
            await raw.execute(f"TRUNCATE {notes.name}, {idempotency_keys.name} RESTART IDENTITY")
        started = time.perf_counter()
        show = progress_bar(count, started)
        show(0)
        await add_notes(raw, count, batch_size=batch_size, progress=show)
        return time.perf_counter() - started


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="How many notes to add.")
    parser.add_argument("--batch", type=int, default=50_000, help="Rows per COPY.")
    parser.add_argument("--truncate", action="store_true", help="Delete every note first.")
    arguments = parser.parse_args(argv)
    if arguments.count < 0 or arguments.batch < 1:
        parser.error("count must be 0 or more, and --batch 1 or more")
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse(sys.argv[1:] if argv is None else argv)
    logging.config.dictConfig(log_config("warning"))
    with database_or_embedded(Settings()) as settings:
        seconds = asyncio.run(
            seed(settings, arguments.count, batch_size=arguments.batch, truncate=arguments.truncate)
        )
    rate = arguments.count / seconds if seconds else 0.0
    print(f"Seeded {arguments.count:,} notes in {seconds:.1f} s ({rate:,.0f} notes/s)")


if __name__ == "__main__":
    main()
