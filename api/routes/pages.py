"""The web pages: server-rendered templates with a little JavaScript that calls the /v1 API.

Pages hold no data of their own: each renders a shell (navigation, today's date by the
application's clock, the sign-in panel, empty containers) and its script fetches from the API
with the key the person chose, so what a page shows is exactly what the API lets that key see.
The static files (one stylesheet, a few scripts, the favicon) are served here too, with a content
hash in their URLs so browsers may cache them for long.
Nothing here is part of the API's schema.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import demo_keys, principal_spec
from api.deps import EngineDep, SettingsDep
from retail.clock import clock
from retail.errors import AisleError
from retail.settings import Settings

_HERE = Path(__file__).resolve().parent.parent
STATIC_DIR = _HERE / "static"
TEMPLATES_DIR = _HERE / "templates"
# Only flat names of the kinds the pages use, so a request can never reach outside STATIC_DIR.
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|svg)$")
_MEDIA_TYPES = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


@dataclass(frozen=True)
class Page:
    """One page: where it lives, its name in the navigation and its heading, the role it is made
    for (the sign-in panel offers that role's demo users first), its scripts, and whether only
    that role (and admins) may use it: the page then says so to anyone else rather than call
    the API for a refusal."""

    path: str
    template: str
    title: str
    heading: str
    role: str
    scripts: tuple[str, ...]
    restricted: bool = True


# The planner's and the pricing manager's queues share one template and queue.js; their own
# scripts draw a proposal's detail.
PAGES = (
    # Anyone signed in may chat: an associate or a planner asks the assistant too.
    Page(
        "/",
        "storefront.html",
        "Shop",
        "Find what you need",
        "shopper",
        ("storefront.js", "chat.js"),
        False,
    ),
    Page(
        "/associate",
        "associate.html",
        "Associate",
        "Associate console",
        "associate",
        ("associate.js",),
    ),
    Page(
        "/planner",
        "queue.html",
        "Planner",
        "Reorder approvals",
        "planner",
        ("queue.js", "planner.js"),
    ),
    Page(
        "/pricing",
        "queue.html",
        "Pricing",
        "Price change approvals",
        "pricing_manager",
        ("queue.js", "pricing.js"),
    ),
    Page("/evals", "evals.html", "Evaluations", "Evaluation reports", "evaluator", ("evals.js",)),
    Page(
        "/experiments",
        "experiments.html",
        "Experiments",
        "Experiments",
        "evaluator",
        ("experiments.js",),
    ),
    Page("/ops", "ops.html", "Operations", "Models, data and KPIs", "evaluator", ("ops.js",)),
)


@cache
def _static_version(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content."""
    return f"/static/{name}?v={_static_version(name)}"


templates.env.globals["static_url"] = static_url


def demo_users(engine: Engine, settings: Settings) -> list[dict[str, Any]]:
    """The issued demo keys grouped by role, for the sign-in panel; none outside development,
    where a page must never hand out a key."""
    if settings.environment != "dev":
        return []
    try:
        demo = demo_keys(engine, settings)
    except AisleError:  # no world seeded yet: nobody to offer
        return []
    groups: dict[str, list[dict[str, str | None]]] = {}
    for d in demo:
        if d.issued:
            user = {
                "principal": principal_spec(d.principal),
                "id": d.principal.id,
                "role": d.principal.role,
                "store_id": d.principal.store_id,
                "key": d.key,
            }
            groups.setdefault(d.principal.role, []).append(user)
    return [{"role": role, "users": users} for role, users in groups.items()]


def _render(
    request: Request,
    page: Page,
    engine: Engine,
    settings: Settings,
    status_code: int = status.HTTP_200_OK,
    **extra: Any,
) -> HTMLResponse:
    context = {
        "page": page,
        "pages": PAGES,
        "demo_users": demo_users(engine, settings),
        "clock": clock(engine, settings),
        "settings": settings,
        **extra,
    }
    return templates.TemplateResponse(request, page.template, context, status_code=status_code)


def _page_route(page: Page) -> None:
    def show(request: Request, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
        return _render(request, page, engine, settings)

    show.__name__ = f"page_{page.title.lower()}"
    router.add_api_route(page.path, show, methods=["GET"], response_class=HTMLResponse)


for _page in PAGES:
    _page_route(_page)


# Shown for an address that is not a page; made for nobody in particular, so its sign-in panel
# offers the demo users in their usual order.
NOT_FOUND = Page("", "not_found.html", "Not found", "There is no such page", "", (), False)


def wants_html(request: Request) -> bool:
    """Whether a request is a browser's for a page: outside the /v1 API, accepting HTML.

    Programs (curl's `*/*`, the pages' own fetches with `application/json`) are answered in JSON.
    """
    if request.url.path == "/v1" or request.url.path.startswith("/v1/"):
        return False
    accept = request.headers.get("accept", "")
    accepted = (part.split(";")[0].strip().lower() for part in accept.split(","))
    return "text/html" in accepted


def install(app: FastAPI) -> None:
    """Answer a browser's request for an address that is not a page with an HTML page linking to
    the pages; every other 404 stays the app's JSON sentence."""
    answer_in_json = app.exception_handlers[StarletteHTTPException]

    async def not_found(request: Request, exc: Exception) -> Response:
        if not wants_html(request):
            answered = answer_in_json(request, exc)
            return await answered if inspect.isawaitable(answered) else answered
        state = request.app.state
        # Rendering reads the database (the clock, the demo users): off the event loop.
        return await run_in_threadpool(
            _render,
            request,
            NOT_FOUND,
            state.engine,
            state.settings,
            status.HTTP_404_NOT_FOUND,
            missing_path=request.url.path,
        )

    # A status code's handler is consulted before the handler of the exception's class.
    app.add_exception_handler(status.HTTP_404_NOT_FOUND, not_found)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon, for browsers and tools that ask for it by the old fixed name."""
    return static_file("favicon.svg")


@router.get("/static/{name}")
def static_file(name: str, v: str | None = None) -> FileResponse:
    """A stylesheet or script; cached for a year when asked for by its current version."""
    match = _STATIC_NAME.match(name)
    if match is None or not (STATIC_DIR / name).is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no static file {name!r}.")
    fresh = v is not None and v == _static_version(name)
    cache_control = "public, max-age=31536000, immutable" if fresh else "no-cache"
    return FileResponse(
        STATIC_DIR / name,
        media_type=_MEDIA_TYPES[match.group(1)],
        headers={"Cache-Control": cache_control},
    )
