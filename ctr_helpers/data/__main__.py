"""``python -m ctr_helpers.data``: download every course data file, or show what is there.

Usage::

    python -m ctr_helpers.data fetch [--data-home DIR] [--force] [FILE ...]
    python -m ctr_helpers.data status [--data-home DIR]      (alias: where)

``fetch`` downloads, sha256-checks and caches every file of :data:`REMOTE_FILES` (or only the
ones named) into the data home, with a progress bar per file (``TQDM_DISABLE=1`` hides them),
and exits with status 1 and one message naming every file it could not get. ``status`` prints
the data home and, for each file, whether it is there and verified; it exits with 1 when one
is missing or corrupt.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import download
from .download import (
    ENV_DATA_HOME,
    DownloadError,
    RemoteFile,
    _home_source,
    fetch_all,
    get_cache_dir,
    get_data_home,
    sha256_file,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ctr_helpers.data",
        description="Download the course's data files into the data home, or show what is there.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download, check and cache every data file")
    fetch.add_argument("files", nargs="*", metavar="FILE", help="only these (default: all)")
    fetch.add_argument("--force", action="store_true", help="download again even if cached")
    status = sub.add_parser(
        "status", aliases=["where"], help="show the data home and which files are verified"
    )
    for command in (fetch, status):
        command.add_argument(
            "--data-home",
            metavar="DIR",
            help=f"the data home (default: ${ENV_DATA_HOME}, else a per-user cache)",
        )
    return parser


def _state(remote: RemoteFile, home: Path) -> str:
    """``verified``, ``missing`` or ``CORRUPT`` for one file of the data home."""
    path = home.joinpath(*remote.name.split("/"))
    if not path.is_file():
        return "missing"
    return "verified" if sha256_file(path) == remote.sha256 else "CORRUPT"


def _fetch(files: Sequence[str], data_home: str | None, force: bool) -> int:
    home = get_data_home(data_home)
    print(f"Data home: {home} ({_home_source(data_home)})")

    def done(remote: RemoteFile, path: Path) -> None:
        print(f"  ok  {remote.name}  ({remote.size:,} bytes, sha256 verified)", flush=True)

    try:
        paths = fetch_all(files or None, data_home, force=force, on_file=done)
    except DownloadError as err:
        print(f"\n{err}", file=sys.stderr)
        return 1
    except KeyError as err:  # a FILE that is not in the registry
        print(err.args[0], file=sys.stderr)
        return 2
    print(f"All {len(paths)} files are in {home}.")
    if data_home is not None:
        print(
            f"To use them, set {ENV_DATA_HOME}={home} (in a notebook: %env {ENV_DATA_HOME}={home})."
        )
    return 0


def _status(data_home: str | None) -> int:
    home = get_data_home(data_home)
    print(f"Data home: {home} ({_home_source(data_home)})")
    states = {name: _state(remote, home) for name, remote in download.REMOTE_FILES.items()}
    for name, state in states.items():
        print(f"  {state:<8}  {name}")
    print(f"Derived files (the rebuilt Frappe train split): {get_cache_dir()}")
    good = sum(state == "verified" for state in states.values())
    if good == len(states):
        print(f"All {good} files are there and verified.")
        return 0
    print(
        f"{good} of {len(states)} files verified; `python -m ctr_helpers.data fetch` gets the rest."
    )
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status (0: every file in place and verified)."""
    args = _parser().parse_args(argv)
    if args.command == "fetch":
        return _fetch(args.files, args.data_home, args.force)
    return _status(args.data_home)


if __name__ == "__main__":
    sys.exit(main())
