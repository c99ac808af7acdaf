"""The web front office: a portal per role over the running services.

One Starlette application (``caruso.web.app.build_app``) served by uvicorn from the
``web`` service, so ``caruso run`` brings it up with everything else. What a user may
see and do comes from the roles in ``[services.web.settings.roles]`` and is checked
on the server for every page and every API call (``caruso.web.guard``).
"""
