"""Who a Zoom Phone call's report goes to: the recorded user's Zoom e-mail, asked of Zoom's Users API.

Zoom's phone payloads name the recorded user only by id (``owner.id``, ``user_id``); ``GET /users/{userId}``
(scope ``user:read:user:admin``) gives the address. Without it (Zoom's answer: no such user, the scope missing)
the call is archived and transcribed all the same, and nobody is e-mailed. Zoom not answering (5xx, 429s, a
timeout after :func:`~zoomsymbl_common.zoom_retries.call_with_retries`' own tries) or our quota store away is no
such answer: it is raised for the consumer policy to try the call again, never taken for "no recipient".
"""

from __future__ import annotations

import logging

from zoomsymbl_common.events import RecordingCompleted
from zoomsymbl_common.zoom_answers import ZoomApiError
from zoomsymbl_common.zoom_retries import call_with_retries

from zoomsymbl_mixer.credentials import RecordingsApi

log = logging.getLogger("zoomsymbl.mixer.phone")


async def with_phone_user(event: RecordingCompleted, api: RecordingsApi | None) -> RecordingCompleted:
    """``event`` with ``host_email`` set to the phone user's Zoom e-mail, when Zoom gives one.

    A retryable failure of the lookup propagates: a call mixed without its recipient is announced to nobody for good
    (its report never sent, no failure notice either), so it waits for Zoom like a download does.
    """
    call = event.phone_call
    user_id = (call.user_id or call.owner_id) if call else event.host_id
    if api is None or not user_id or event.host_email:
        return event
    try:
        email = await call_with_retries(lambda: api.user_email(user_id))
    except ZoomApiError as exc:
        fields = {"tenant": event.tenant, "meeting_uuid": event.meeting_uuid, "reason": str(exc)[:200]}
        log.info("phone user's e-mail not available", extra=fields)
        return event
    return event.model_copy(update={"host_email": email}) if email else event
