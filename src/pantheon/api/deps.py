"""Typed route dependencies: ``def route(service: ServiceDep) -> ...``.

Each alias names one per-process object of :class:`~pantheon.api.state.AppState` (made
once by :meth:`AppState.build <pantheon.api.state.AppState.build>` in ``create_app``), so a
route states what it uses in its signature and mypy checks every use. Tests swap an object
with ``app.dependency_overrides[get_service] = ...``.

Each getter is ``async def`` because it only reads an attribute: FastAPI runs a plain
``def`` dependency in the thread pool (``run_in_threadpool``,
https://fastapi.tiangolo.com/async/#dependencies), and on ``POST /api/route`` the two
getters it needed were two of its three thread-pool round trips.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pantheon.api.state import AppState, get_state
from pantheon.config import Settings
from pantheon.roster import Roster
from pantheon.store.db import Database
from pantheon.training.service import TrainingService
from pantheon.worker.dispatch import Dispatcher


async def current_state(request: Request) -> AppState:
    return get_state(request)


StateDep = Annotated[AppState, Depends(current_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_roster(state: StateDep) -> Roster:
    return state.roster


async def get_database(state: StateDep) -> Database:
    return state.database


async def get_service(state: StateDep) -> TrainingService:
    return state.service


async def get_dispatcher(state: StateDep) -> Dispatcher:
    return state.dispatcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
RosterDep = Annotated[Roster, Depends(get_roster)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ServiceDep = Annotated[TrainingService, Depends(get_service)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
