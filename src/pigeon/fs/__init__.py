"""Filesystem: confined root, listings, digest cache, atomic .part writer."""
