"""The Tycho registry service: database, REST API, verification queue, web pages."""
