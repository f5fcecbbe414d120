"""The web console: server-rendered pages for the people the service exists for."""
