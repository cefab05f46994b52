"""Python's ldap3 (PyPI) against the LDAP interface, for tests/e2e/ldap.test.mjs.

    ldap_client.py URL CA_FILE BIND_DN PASSWORD BASE [starttls]

Binds, asks "Who am I?", and runs a paged search of every person and a
search of one group; prints one JSON object. A refused bind prints its
result code and exits 0, so the test reads the outcome from the JSON.
"""

import json
import ssl
import sys

from ldap3 import ALL, SUBTREE, Connection, Server, Tls


def main() -> None:
    url, ca, dn, password, base = sys.argv[1:6]
    starttls = len(sys.argv) > 6 and sys.argv[6] == "starttls"
    tls = Tls(ca_certs_file=ca, validate=ssl.CERT_REQUIRED)
    server = Server(url, use_ssl=url.startswith("ldaps://"), tls=tls, get_info=ALL)
    conn = Connection(server, user=dn, password=password, raise_exceptions=False)
    conn.open()
    if starttls and not conn.start_tls():
        print(json.dumps({"starttls": False, "result": conn.result}))
        return
    if not conn.bind():
        print(json.dumps({"bound": False, "code": conn.result["result"], "message": conn.result["message"]}))
        return
    who = conn.extend.standard.who_am_i()
    people = conn.extend.standard.paged_search(
        base, "(objectClass=person)", SUBTREE, attributes=["uid", "mail"], paged_size=1, generator=False
    )
    uids = sorted(str(e["attributes"]["uid"][0]) for e in people if e.get("type") == "searchResEntry")
    conn.search(base, "(&(objectClass=groupOfNames)(cn=Staff))", attributes=["member"])
    members = [str(m) for e in conn.entries for m in e.member.values]
    contexts = [str(c) for c in (server.info.naming_contexts or [])]
    print(json.dumps({"bound": True, "whoami": who, "uids": uids, "members": members, "naming_contexts": contexts}))
    conn.unbind()


if __name__ == "__main__":
    main()
