"""Conversation history for the web workspace: people's chats, stored turn by turn."""

from hfgate.conversations.service import ConversationService

__all__ = ["ConversationService"]
