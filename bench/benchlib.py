"""What bench/run.py and bench/reload.py share: the herd's graph and small
process and port helpers.  Python 3 stdlib only."""

import socket

# the Goloman graph of PROTOCOL.md section 11
NAMES = ['Goloman', 'Hands', 'Holiday', 'Welsh', 'Wilkes']
GRAPH = {'Goloman': ['Hands', 'Holiday', 'Wilkes'],
         'Hands': ['Goloman', 'Wilkes'],
         'Holiday': ['Goloman', 'Welsh', 'Wilkes'],
         'Welsh': ['Holiday'],
         'Wilkes': ['Goloman', 'Hands', 'Holiday']}


def read_pid(path):
    """The pid in a pid file, or None."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def port_free(port):
    """True when nothing is bound to 127.0.0.1:port."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()
