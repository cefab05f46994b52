#!/usr/bin/env python3
"""Live sessions for the memory scenario of bench/gateway.sh, written straight
into the stores in the layouts idp/src/session.rs and idp/src/redis_store.rs
use (signing in 100,000 times through argon2 would take the better part of an
hour on 2 cores).

  seed_sessions.py sqlite DB USER_ID N
      N portal sessions in the state database (the embedded store loads them).
  seed_sessions.py redis PREFIX USER_ID APP N TOKENS_FILE
      N portal sessions, each with an application cookie for APP, as Redis
      protocol on stdout (for `redis-cli --pipe`); the cookie values go to
      TOKENS_FILE, one a line, for wrk.
"""

import base64
import hashlib
import json
import os
import sqlite3
import sys
import time

LIFETIME = 8 * 3600


def token():
    # As idp::crypto::random_token: 32 random bytes, base64url without padding (43 chars).
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def key_of(tok):
    return hashlib.sha256(tok.encode()).hexdigest()


def session_json(user_id, now):
    return json.dumps(
        {
            "user_id": user_id,
            "created_at": now,
            "auth_time": now,
            "amr": ["pwd"],
            "mfa_at": None,
            "expires_at": now + LIFETIME,
            "last_seen": now,
            "source_ip": None,
        },
        separators=(",", ":"),
    )


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def seed_sqlite(db, user_id, n):
    now = int(time.time())
    con = sqlite3.connect(db)
    con.executemany(
        "INSERT INTO sessions (id_hash, user_id, data, expires_at) VALUES (?, ?, ?, ?)",
        ((key_of(token()), user_id, session_json(user_id, now), now + LIFETIME) for _ in range(n)),
    )
    con.commit()
    con.close()


def seed_redis(prefix, user_id, app, n, tokens_file):
    now = int(time.time())
    out = sys.stdout.buffer
    with open(tokens_file, "w") as tokens:
        for _ in range(n):
            portal = key_of(token())
            cookie = token()
            out.write(resp("SET", f"{prefix}s:{portal}", session_json(user_id, now), "EXAT", now + LIFETIME))
            out.write(resp("SADD", f"{prefix}u:{user_id}", portal))
            link = json.dumps({"session": portal, "app": app, "expires_at": now + LIFETIME}, separators=(",", ":"))
            out.write(resp("SET", f"{prefix}a:{key_of(cookie)}", link, "EXAT", now + LIFETIME))
            tokens.write(cookie + "\n")


def main(argv):
    if len(argv) == 5 and argv[1] == "sqlite":
        seed_sqlite(argv[2], argv[3], int(argv[4]))
    elif len(argv) == 7 and argv[1] == "redis":
        seed_redis(argv[2], argv[3], argv[4], int(argv[5]), argv[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
