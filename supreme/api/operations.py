"""The Human_Operator's side of the Error Escalation diagram: acknowledge and close incidents over HTTP.

``POST /api/v1/alerts/{id}/acknowledge`` stops escalation ("Human_Operator -->> Alert_Manager:
Acknowledge alert"); ``POST /api/v1/alerts/{id}/resolve`` closes the incident ("Close incident").
Both need a signed request or session with the ``alerts:write`` scope (``admin`` also satisfies it):
an anonymous caller must not be able to silence an on-call page.  The operator's name recorded on the
incident is the authenticated key id, so the alert history says who acknowledged.

Refusals are JSON: 404 ``unknown_incident``, 409 ``invalid_transition`` (acknowledging a resolved
incident, resolving twice), 409 ``alerts_disabled`` when the service runs without its resilience loop.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from supreme.api.auth.service import Principal
from supreme.api.deps import ApiHTTPException, path_with_query
from supreme.api.resilience import alert_json
from supreme.api.routes import request_id_of
from supreme.api.services import Services
from supreme.monitoring.alerts import AlertError, AlertManager, Incident

__all__ = ["ALERTS_SCOPE", "operations_router"]

ALERTS_SCOPE = "alerts:write"
_MAX_NOTE = 500


def _manager(svc: Services) -> AlertManager:
    if svc.resilience is None:
        raise ApiHTTPException(status_code=409, detail={
            "error": "alerts_disabled", "message": "this service runs without its resilience loop"})
    return svc.resilience.alerts


def _apply(svc: Services, incident_id: int, op: str, by: str, note: str) -> dict[str, Any]:
    manager = _manager(svc)
    if incident_id not in manager.incidents:
        raise ApiHTTPException(status_code=404, detail={
            "error": "unknown_incident", "message": f"no incident with id {incident_id}"})
    try:
        inc: Incident = (manager.acknowledge(incident_id, by=by) if op == "acknowledge"
                         else manager.resolve(incident_id, by=by, note=note))
    except AlertError as exc:
        raise ApiHTTPException(status_code=409, detail={
            "error": "invalid_transition", "message": str(exc)}) from exc
    body = alert_json(inc, manager.chain)
    body["by"] = by
    return body


async def _note(request: Request) -> str:
    """The optional ``{"note": "..."}`` body; anything else is a 422 JSON error."""
    raw = await request.body()
    if not raw.strip():
        return ""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiHTTPException(status_code=422, detail={
            "error": "invalid_body", "message": f"body is not JSON: {exc}"}) from exc
    note = payload.get("note", "") if isinstance(payload, dict) else None
    if not isinstance(note, str) or len(note) > _MAX_NOTE:
        raise ApiHTTPException(status_code=422, detail={
            "error": "invalid_body", "message": f"'note' must be a string of at most {_MAX_NOTE} characters"})
    return note


def operations_router(svc: Services) -> APIRouter:
    """The acknowledge and resolve routes of the alert lifecycle."""
    router = APIRouter(tags=["operations"])

    async def operator(request: Request) -> Principal:
        # AuthError reaches the app's SupremeError handler: 401/403/503 JSON like every other route
        body = await request.body()
        return await run_in_threadpool(svc.auth.authenticate, request.headers, request.method,
                                       path_with_query(request.scope), body, (ALERTS_SCOPE,),
                                       request_id_of(request))

    @router.post("/api/v1/alerts/{incident_id}/acknowledge",
                 summary="Acknowledge an open incident: its escalation stops")
    async def acknowledge(incident_id: int, request: Request) -> dict[str, Any]:
        principal = await operator(request)
        await _note(request)
        return _apply(svc, incident_id, "acknowledge", principal.key_id, "")

    @router.post("/api/v1/alerts/{incident_id}/resolve",
                 summary="Close an open or acknowledged incident")
    async def resolve(incident_id: int, request: Request) -> dict[str, Any]:
        principal = await operator(request)
        note = await _note(request)
        return _apply(svc, incident_id, "resolve", principal.key_id, note)

    return router
