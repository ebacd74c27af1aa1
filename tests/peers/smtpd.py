"""A real SMTP server for the e-mail tests (tests/tests/smtp_tls.rs): aiosmtpd on loopback with
a certificate the test made, speaking STARTTLS (required before AUTH and MAIL) or implicit TLS,
with AUTH PLAIN/LOGIN against one user. Each message it accepts is written to OUT_DIR as JSON:
whether the session was encrypted, who logged in, the envelope and the DATA.

usage: smtpd.py MODE(starttls|tls) PORT CERT KEY USER PASSWORD OUT_DIR
Prints "ready" on stdout once it accepts connections; runs until killed.
"""

import json
import os
import ssl
import sys
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    mode, port, cert, key, user, password, out_dir = sys.argv[1:8]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        if ok:
            session.logwarden_login = user
        return AuthResult(success=ok, handled=False)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            record = {
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "login": getattr(session, "logwarden_login", None),
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
            }
            tmp = os.path.join(out_dir, ".tmp-" + uuid.uuid4().hex)
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.rename(tmp, os.path.join(out_dir, uuid.uuid4().hex + ".json"))
            return "250 2.0.0 queued"

    params = dict(authenticator=authenticator, auth_required=True)
    if mode == "starttls":
        controller = Controller(
            Handler(), hostname="127.0.0.1", port=int(port),
            tls_context=ctx, require_starttls=True, auth_require_tls=True,
            server_hostname="localhost", **params)
    else:
        controller = Controller(
            Handler(), hostname="127.0.0.1", port=int(port), ssl_context=ctx,
            # TLS from the first byte: aiosmtpd's own check only knows STARTTLS.
            auth_require_tls=False, server_hostname="localhost", **params)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
