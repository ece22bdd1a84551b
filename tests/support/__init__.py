"""Test support: the local stack as fixtures, and a person with a browser-less user agent."""
