"""The verification queue and the worker protocol that drains it."""
