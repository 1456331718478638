"""Dependencies shared by the routes, as `Annotated` aliases: `def route(session: SessionDep)`.

Everything here reads what the app's lifespan put on `app.state`, so an app built by
`create_app(settings)` in a test serves that test's database and settings, not the environment's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail.settings import Settings


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed when the response has been produced.

    Nothing is committed for the route: one that writes commits explicitly, so a failure halfway
    through rolls back as the session closes.
    """
    with request.app.state.session_factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
