"""One run of an observation version (a seed, a sweep's cell): its record and its page."""
