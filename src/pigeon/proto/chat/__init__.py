"""The chat protocol, sans I/O: IP Messenger packets and file offers, the messenger's state
machine with explicit time, and the chat's slash commands."""
