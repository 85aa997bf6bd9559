"""The Tycho registry: database, REST API, verification queue, web pages and feeds.

One package per domain (users, phenomena, observations, community, citations,
verification), each with its services, its API router (api.py) and its pages
(pages.py); app.py composes them. See docs/design.md, "The server".
"""
