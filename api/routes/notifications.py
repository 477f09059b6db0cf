"""Devices, notification settings and the in-app notification center."""

from __future__ import annotations

from typing import Any

from api.endpoint import Call, endpoint
from hub.errors import not_found
from hub.notify import center, devices, preferences
from schema.models.notify import (
    Badge,
    ConversationNotificationSettings,
    ConversationNotificationSettingsOut,
    DeviceOut,
    DeviceRegister,
    NotificationPage,
    NotificationPreferences,
    NotificationPreferencesOut,
    NotificationsQuery,
)

TAG = "notifications"


@endpoint(
    "POST",
    "/devices",
    summary="Register this device for push notifications",
    body=DeviceRegister,
    response=DeviceOut,
    status=201,
    tag=TAG,
)
async def register(call: Call) -> dict[str, Any]:
    return await devices.register_device(call.ctx, call.user, call.body.platform, call.body.token)


@endpoint("DELETE", "/devices/{token}", summary="Stop pushing to this device", tag=TAG)
async def unregister(call: Call) -> None:
    if not await devices.remove_device(call.ctx, call.user, call.request.path_params["token"]):
        raise not_found("Device")


@endpoint(
    "GET",
    "/conversations/{conversation_id}/notification-settings",
    summary="Muted, push and e-mail for one conversation",
    response=ConversationNotificationSettingsOut,
    tag=TAG,
)
async def conversation_settings(call: Call) -> dict[str, Any]:
    return await preferences.get_conversation_settings(
        call.ctx, call.user, call.path_uuid("conversation_id")
    )


@endpoint(
    "PUT",
    "/conversations/{conversation_id}/notification-settings",
    summary="Change muted, push and e-mail for one conversation",
    body=ConversationNotificationSettings,
    response=ConversationNotificationSettingsOut,
    tag=TAG,
)
async def put_conversation_settings(call: Call) -> dict[str, Any]:
    return await preferences.put_conversation_settings(
        call.ctx, call.user, call.path_uuid("conversation_id"), call.body
    )


@endpoint(
    "GET",
    "/users/me/notification-preferences",
    summary="Quiet hours, language, digest delay",
    response=NotificationPreferencesOut,
    tag=TAG,
)
async def my_preferences(call: Call) -> dict[str, Any]:
    return await preferences.get_preferences(call.ctx, call.user)


@endpoint(
    "PUT",
    "/users/me/notification-preferences",
    summary="Change quiet hours, language, digest delay",
    body=NotificationPreferences,
    response=NotificationPreferencesOut,
    tag=TAG,
)
async def put_preferences(call: Call) -> dict[str, Any]:
    return await preferences.put_preferences(call.ctx, call.user, call.body)


@endpoint(
    "GET",
    "/notifications",
    summary="Everything I was notified of, newest first",
    query=NotificationsQuery,
    response=NotificationPage,
    tag=TAG,
)
async def notifications(call: Call) -> dict[str, Any]:
    q: NotificationsQuery = call.query
    items, unread = await center.list_notifications(
        call.ctx, call.user, before=q.before, limit=q.limit, unread_only=q.unread_only
    )
    return {"items": items, "unread": unread}


@endpoint(
    "POST",
    "/notifications/{notification_id}/read",
    summary="Mark one notification read",
    response=Badge,
    tag=TAG,
)
async def read_one(call: Call) -> dict[str, Any]:
    return {
        "unread": await center.mark_read(call.ctx, call.user, call.path_uuid("notification_id"))
    }


@endpoint(
    "POST",
    "/notifications/read-all",
    summary="Mark every notification read",
    response=Badge,
    tag=TAG,
)
async def read_all(call: Call) -> dict[str, Any]:
    return {"unread": await center.mark_read(call.ctx, call.user, None)}


ENDPOINTS = [
    register,
    unregister,
    conversation_settings,
    put_conversation_settings,
    my_preferences,
    put_preferences,
    notifications,
    read_one,
    read_all,
]
