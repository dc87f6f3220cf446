"""The live service: ingest telemetry, score it with the champion, alarm, alert, watch drift.

:mod:`~batteryops.serve.engine` scores (the featurize stage's code, the registered operating
point), :mod:`~batteryops.serve.store` keeps scores, alarms and feedback in a real database,
:mod:`~batteryops.serve.notify` sends alerts, :mod:`~batteryops.serve.app` is the ASGI
application (the service, its scoring loop and request guards) over the endpoints of
:mod:`~batteryops.serve.routes` (REST, WebSocket, the live page), and
:mod:`~batteryops.serve.replay` streams a simulated fleet or files at N x real time.
"""
