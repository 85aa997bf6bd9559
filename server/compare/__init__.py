"""Comparing observations side by side: `/compare?ids=T-1,T-9`."""
