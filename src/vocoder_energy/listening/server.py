"""The rating page: a small Starlette app over a built test and its ratings store.

What a browser can reach: the page's own static files, ``/api/join``, ``/api/state``,
``/api/audio/<id>`` (only stimuli of this test, only the rater's own, by opaque ID) and ``/api/ratings``;
``/admin`` is an empty page that asks for the admin token and shows ``/api/admin/progress``. Nothing
served carries a system name or says which stimuli are gold questions: the key is read only for the
admin view and for the gold questions each rater's list gets.
"""

from __future__ import annotations

import json
import re
import secrets
from importlib.resources import files
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vocoder_energy.listening.progress import progress
from vocoder_energy.listening.stimuli import gold_stimuli, read_key
from vocoder_energy.listening.store import RatingError, Store

STATIC = Path(str(files(__package__) / "static"))
MAX_BODY_BYTES = 2048  # a rating is ~100 bytes; anything much larger is not one
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class SecurityHeaders:
    """ASGI middleware: the same restrictive headers on every response (and nothing about the test)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *[h for h in message.get("headers", []) if h[0] not in (b"etag", b"last-modified")],
                    *[h for h in SECURITY_HEADERS if h[0] not in names],
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def load_test(test_dir: str | Path) -> dict:
    path = Path(test_dir) / "test.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path}: no listening test here; build one with `snakemake listening_test`") from err


def create_app(
    test_dir: str | Path,
    key_path: str | Path,
    db_path: str | Path,
    admin_token: str,
    invitations: set[str] | None = None,
) -> Starlette:
    """The app serving the test in ``test_dir``; with ``invitations``, only those tokens can join."""
    test = load_test(test_dir)
    audio_dir = Path(test_dir) / "audio"
    key_path = Path(key_path)
    key = read_key(key_path)  # at start, not at the first admin request: a missing key fails here
    store = Store(db_path, test, gold_stimuli(key))
    audio = {stimulus: audio_dir / f"{stimulus}.wav" for stimulus in store.stimuli}
    missing = [str(path) for path in audio.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} stimulus file(s) missing, e.g. {missing[0]}; rebuild the test")
    for token in invitations or ():
        if not TOKEN_PATTERN.match(token):
            raise ValueError(f"invitation token {token!r}: use 8-128 letters, digits, '-' or '_'")

    async def read_json(request: Request) -> dict:
        """The request's JSON object, refusing oversized, malformed or non-object bodies with a 4xx."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise HTTPException(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        if not body:
            return {}
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise HTTPException(400, "request body is not valid JSON") from err
        if not isinstance(data, dict):
            raise HTTPException(400, "request body must be a JSON object")
        return data

    async def rater(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not TOKEN_PATTERN.match(token):
            raise HTTPException(401, "no rater token: open the start page to join the test")
        participant = await run_in_threadpool(store.participant, token)
        if participant is None:
            raise HTTPException(401, "unknown rater token: open the start page to join the test")
        return participant

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def admin_page(request: Request) -> Response:
        return FileResponse(STATIC / "admin.html")

    async def join(request: Request) -> Response:
        data = await read_json(request)
        invitation = data.get("invitation")
        if invitations is not None:
            if not isinstance(invitation, str) or invitation not in invitations:
                return error(403, "this test is by invitation: open the link you were sent")
        elif invitation is not None:
            return error(400, "this test takes no invitations: start without one")
        participant, token = await run_in_threadpool(store.join, invitation)
        return JSONResponse({"participant": participant, "token": token}, status_code=201)

    async def state(request: Request) -> Response:
        current = await run_in_threadpool(store.state, await rater(request))
        return JSONResponse(
            {
                "participant": current.participant,
                "total": current.total,
                "done": current.done,
                "current": current.current,
            }
        )

    async def audio_file(request: Request) -> Response:
        participant = await rater(request)
        stimulus = request.path_params["stimulus"]
        if stimulus not in audio:
            return error(404, "unknown stimulus: it is not part of this test")
        await run_in_threadpool(store.mark_fetched, participant, stimulus)
        return Response(audio[stimulus].read_bytes(), media_type="audio/wav")

    async def rate(request: Request) -> Response:
        participant = await rater(request)
        data = await read_json(request)
        unknown = set(data) - {"participant", "stimulus", "score"}
        if unknown:
            return error(400, f"unexpected field(s): {', '.join(sorted(unknown))}")
        if data.get("participant") != participant:
            return error(403, "this token belongs to another participant")
        stimulus = data.get("stimulus")
        if not isinstance(stimulus, str):
            return error(400, "stimulus (a string) is required")
        created = await run_in_threadpool(store.rate, participant, stimulus, data.get("score"))
        current = await run_in_threadpool(store.state, participant)
        return JSONResponse(
            {"stored": True, "new": created, "total": current.total, "done": current.done, "current": current.current},
            status_code=201 if created else 200,
        )

    async def admin_progress(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), admin_token.encode()):
            return error(401, "admin token required (Authorization: Bearer <token>)")
        key = await run_in_threadpool(read_key, key_path)
        return JSONResponse(await run_in_threadpool(progress, store, key))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error(exc.status_code, exc.detail)

    async def rating_error(request: Request, exc: RatingError) -> Response:
        return error(exc.status, str(exc))

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/admin", admin_page),
            Route("/api/join", join, methods=["POST"]),
            Route("/api/state", state),
            Route("/api/audio/{stimulus}", audio_file),
            Route("/api/ratings", rate, methods=["POST"]),
            Route("/api/admin/progress", admin_progress),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: http_error, RatingError: rating_error},
    )
    app.add_middleware(SecurityHeaders)
    app.state.store = store
    return app
