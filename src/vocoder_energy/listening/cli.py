"""``vocoder-energy-listen``: serve the listening test, export its ratings, show its progress."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import sys
from pathlib import Path

from vocoder_energy.listening.progress import export_ratings, progress
from vocoder_energy.listening.ratings import RATERS_NAME, RATINGS_PATH, raters_path
from vocoder_energy.listening.server import create_app, load_test
from vocoder_energy.listening.stimuli import gold_stimuli, read_key
from vocoder_energy.listening.store import Store

DEFAULT_TEST = "results/listening/test"
DEFAULT_KEY = "results/listening/key.csv"
DEFAULT_DB = "data/listening/ratings.sqlite"
DEFAULT_CSV = RATINGS_PATH  # where the workflow's MOS rule reads them
ADMIN_TOKEN_ENV = "VOCODER_LISTEN_ADMIN_TOKEN"


def bind_warning(host: str, port: int) -> str | None:
    """A warning when ``host`` is not a loopback address (the test becomes reachable from elsewhere)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        loopback = False
    if loopback:
        return None
    return (
        f"WARNING: binding to {host}: anyone who can reach this machine on port {port} can open the test, "
        f"over plain HTTP. For remote raters keep 127.0.0.1 behind a TLS reverse proxy "
        '(see docs/listening-test.md, "Remote raters").'
    )


def read_invitations(path: str) -> set[str]:
    """One invitation token per line (blank lines and # comments ignored)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise SystemExit(f"--invitations {path}: cannot read ({err.strerror})") from err
    tokens = {line.split("#", 1)[0].strip() for line in lines} - {""}
    if not tokens:
        raise SystemExit(f"--invitations {path}: no tokens in the file (one per line)")
    return tokens


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    warning = bind_warning(args.host, args.port)
    if warning:
        print(warning, file=sys.stderr)
    admin_token = os.environ.get(ADMIN_TOKEN_ENV) or secrets.token_urlsafe(18)
    invitations = read_invitations(args.invitations) if args.invitations else None
    app = create_app(args.test, args.key, args.db, admin_token=admin_token, invitations=invitations)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Listening test on http://{host}:{args.port}/  (ratings: {args.db})")
    if invitations:
        print(f"By invitation: {len(invitations)} token(s); send each rater http://{host}:{args.port}/#invite=TOKEN")
    print(f"Progress: http://{host}:{args.port}/admin  admin token: {admin_token}", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        server_header=False,
        log_level="warning",
    )


def open_store(args: argparse.Namespace) -> tuple[Store, dict]:
    if not Path(args.db).is_file():
        raise SystemExit(f"{args.db}: no ratings database yet (it is created by `vocoder-energy-listen serve`)")
    key = read_key(args.key)
    return Store(args.db, load_test(args.test), gold_stimuli(key)), key


def export(args: argparse.Namespace) -> None:
    store, key = open_store(args)
    ratings, pairs, gold, raters = export_ratings(store, key, args.out)
    out = Path(args.out)
    print(f"{ratings} rating(s) -> {out}; {pairs} repeated pair(s) -> {out.with_name('consistency.csv')}")
    print(f"{gold} gold answer(s) -> {out.with_name('gold.csv')}; {raters} rater(s) -> {raters_path(out)}")


def status(args: argparse.Namespace) -> None:
    store, key = open_store(args)
    report = progress(store, key)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{len(report['raters'])} rater(s), {report['finished_raters']} finished")
    print("per rater: rated / assigned, gold failed / answered, joined")
    for rater in report["raters"]:
        print(
            f"  {rater['participant']}  {rater['rated']:>4} / {rater['assigned']:<4} "
            f"{rater['gold_failed']:>2} / {rater['gold_answered']:<2} joined {rater['joined']}"
        )
    print("per system: ratings / assigned, mean score")
    for row in report["systems"]:
        mean = "-" if row["mean_score"] is None else f"{row['mean_score']:.2f}"
        print(f"  {row['system']:<14} {row['ratings']:>5} / {row['assigned']:<5} {mean}")
    if report["repeat_pairs"]:
        print(f"repeats: {report['repeat_pairs']} pair(s), mean |difference| {report['repeat_mean_abs_difference']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vocoder-energy-listen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("serve", serve, "serve the rating page"),
        ("export", export, "write the ratings CSV"),
        ("status", status, "show progress per rater and per system (the admin view)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(func=func)
        sub.add_argument("--test", default=DEFAULT_TEST, help=f"built test directory (default {DEFAULT_TEST})")
        sub.add_argument("--key", default=DEFAULT_KEY, help=f"the test's key (default {DEFAULT_KEY})")
        sub.add_argument("--db", default=DEFAULT_DB, help=f"ratings database (default {DEFAULT_DB})")
    serve_cmd = commands.choices["serve"]
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--invitations", help="file of invitation tokens, one per line: only they can join")
    commands.choices["export"].add_argument(
        "--out",
        default=DEFAULT_CSV,
        help=f"CSV to write (default {DEFAULT_CSV}); consistency.csv, gold.csv and {RATERS_NAME} beside it",
    )
    commands.choices["status"].add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
