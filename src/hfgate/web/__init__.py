"""The web workspace: sign-in, chat, models, integrations and keys pages (DESIGN §5)."""
