"""A real SMTP server for healthmon's tests: aiosmtpd with optional STARTTLS, AUTH and a mailbox.

Usage: smtp_server.py PORT [--tls CERT KEY] [--auth USER PASSWORD] [--save DIR]
Prints "ready" once listening, then serves until killed.

Without --save every message is accepted (250) and dropped.

With --save DIR every accepted message is kept:
- DIR/<n>.json: its envelope, {"mail_from": "...", "rcpt_tos": ["...", ...]};
- DIR/<n>.eml: its raw bytes as received after DATA.
n counts from 1 (after the highest number already in DIR, so a restarted server does not
overwrite). Both files are written under a temporary name and renamed, the .json first, so a
reader that sees <n>.eml finds both complete.

While the file DIR/refuse exists, DATA is answered with "451 4.3.0 Try again later" and nothing
is saved: a test creates it to make the server refuse, and removes it to let mail through again.
"""
import argparse
import json
import os
import re
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


class Mailbox:
    """Saves each accepted message as DIR/<n>.eml with its envelope in DIR/<n>.json."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        numbers = [
            int(m.group(1))
            for m in (re.fullmatch(r"(\d+)\.eml", name) for name in os.listdir(directory))
            if m
        ]
        self.count = max(numbers, default=0)

    def _write(self, name, data):
        final = os.path.join(self.directory, name)
        temporary = os.path.join(self.directory, "." + name + ".tmp")
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, final)

    async def handle_DATA(self, server, session, envelope):
        if os.path.exists(os.path.join(self.directory, "refuse")):
            return "451 4.3.0 Try again later"
        # Handlers run on the controller's one event loop thread: no lock needed.
        self.count += 1
        n = self.count
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)}
        self._write(f"{n}.json", json.dumps(meta).encode())
        self._write(f"{n}.eml", envelope.original_content)
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    parser.add_argument("--save", metavar="DIR")
    args = parser.parse_args()

    kwargs = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls[0], args.tls[1])
        kwargs["tls_context"] = context
        kwargs["require_starttls"] = False
    if args.auth:
        user, password = args.auth

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            # handled=False makes aiosmtpd answer a failure with the standard 535.
            return AuthResult(success=ok, handled=False)

        kwargs["authenticator"] = authenticator
        kwargs["auth_require_tls"] = False
    handler = Mailbox(args.save) if args.save else Sink()
    # aiosmtpd gives up after 5 s by default, while the socket already listens: on a busy
    # machine a caller probing the port would then see it accept, and the process exit.
    kwargs["ready_timeout"] = 30
    controller = Controller(handler, hostname="127.0.0.1", port=args.port, server_hostname="healthmon-test-smtp", **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
