"""The web service: FastAPI app factory (:mod:`pantheon.api.app`), thin routes, error
mapping, dashboard."""
