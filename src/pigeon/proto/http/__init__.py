"""HTTP/1.1 as pigeon speaks it, sans I/O: message heads, fields, framing, ranges, listings, the
fetch rules a client follows and the answers a server remembers."""
