"""asyncio shells: the only code in pigeon that touches sockets, timers and tasks.

Functions here report what happens through plain event objects (``pigeon.events``) handed to a
callback; presentation belongs to ``pigeon.ui``. OSError is translated into ``pigeon.errors``
here, at the edge, and nowhere else.
"""
