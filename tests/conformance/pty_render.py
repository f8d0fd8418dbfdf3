"""Runs `storyboard render FILE --sandbox` in a pseudo-terminal of COLS x ROWS, as a person's
terminal would, and prints what the terminal received as JSON: {"output", "code"}.

Usage: pty_render.py BINARY FILE COLS ROWS [interrupt]
With `interrupt`, SIGINT (Ctrl-C) is sent once the first finished-shot line appears.
"""
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time

binary, storyboard, cols, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
interrupt = len(sys.argv) > 5 and sys.argv[5] == "interrupt"

master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
proc = subprocess.Popen(
    [binary, "render", storyboard, "--sandbox"],
    stdin=slave,
    stdout=slave,
    stderr=slave,
    close_fds=True,
)
os.close(slave)
out = b""
sent = False
deadline = time.time() + 120
while time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 0.1)
    if ready:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if interrupt and not sent and "✓".encode() in out:
            proc.send_signal(signal.SIGINT)
            sent = True
    elif proc.poll() is not None:
        break
code = proc.wait(timeout=60)
print(json.dumps({"output": out.decode("utf-8", "replace"), "code": code}))
