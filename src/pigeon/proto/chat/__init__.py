"""The chat protocol, sans I/O: IP Messenger packets (``ipmsg``) and file offers
(``ipmsg_files``); the messenger's state machine with explicit time (``messenger``), cut
into its events (``events``), the peer table (``peers``), what peers' packets tell us
(``learning``), exactly-once delivery (``delivery``), our own packets (``outgoing``) and the
rate limit (``rate``); and the chat's slash commands (``commands``)."""
