"""The web workspace: sign-in, chat, models, integrations and keys pages."""
