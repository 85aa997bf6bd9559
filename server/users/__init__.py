"""Accounts and API tokens, and signing in on the pages with a token in a cookie."""
