"""The service's action table: which handler serves which action type (the platform's names,
including the older senders')."""

from __future__ import annotations

from conversation_service.worker.handlers import context, conversations, messages
from conversation_service.worker.registry import Registry


def default_registry() -> Registry:
    r = Registry()
    r.register("conversation.create", conversations.create)
    r.register("conversation.update_state", conversations.update_state)
    r.register("conversation.sync_crm", conversations.sync_crm)
    r.register("conversation.session_closed", conversations.session_closed)
    r.register("conversation.add_message", messages.add_message)
    r.register("conversation.message.create", messages.message_create)
    r.register("conversation.save_message", messages.save_message)
    r.register("conversation.get_history", context.get_history, writes=False)
    r.register("conversation.get_context", context.get_context, writes=False)
    r.register("conversation.context.get", context.get_context, writes=False)
    return r
