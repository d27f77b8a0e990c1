"""Integrations: credentials pasted by admins, validated live, stored encrypted."""
