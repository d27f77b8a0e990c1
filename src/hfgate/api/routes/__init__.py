"""One module per group of routes; each route parses, calls a service, and renders."""
