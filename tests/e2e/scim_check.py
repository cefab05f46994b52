"""Runs the scim2-tester RFC 7643/7644 compliance checks against a running
Portcullis, then a provisioning flow with scim2-client.

    scim_check.py PORT HOST TOKEN

Connects to 127.0.0.1:PORT with HOST as the Host header (the portal's name
need not resolve), trusting the server's development certificate. Prints one
line per check and a closing "N passed, N failed, N skipped" line; exits 1
when a check failed. A check may be skipped only when the server's
ServiceProviderConfig says the feature is unsupported (bulk, changePassword).
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

# Features the ServiceProviderConfig declares unsupported: the only skips allowed.
UNSUPPORTED = ("bulk", "changepassword", "change password")

FAILED = {Status.ERROR, Status.CRITICAL}


def client(port, host, token):
    http = httpx2.Client(
        base_url=f"https://127.0.0.1:{port}/scim/v2",
        headers={"Host": host, "Authorization": f"Bearer {token}"},
        verify=False,
        timeout=30,
    )
    return SyncSCIMClient(http)


def compliance(port, host, token):
    results = check_server(client(port, host, token))
    passed = failed = skipped = 0
    for r in results:
        label = f"{r.resource_type or '-'} {r.title}: {r.reason}".replace("\n", " ")
        if r.status in FAILED:
            failed += 1
            print(f"FAIL {label}")
        elif r.status == Status.SKIPPED:
            text = f"{r.title} {r.reason}".lower()
            if any(u in text for u in UNSUPPORTED):
                skipped += 1
                print(f"skip {label}")
            else:
                # A skip the configuration does not explain is a failure.
                failed += 1
                print(f"FAIL (skipped) {label}")
        else:
            passed += 1
            print(f"ok   {label}")
    return passed, failed, skipped


def flows(port, host, token):
    """Create, find, patch, group, deactivate and delete a user."""
    from scim2_models import PatchOp, PatchOperation, SearchRequest

    c = client(port, host, token)
    c.discover()
    User = c.get_resource_model("User")
    Group = c.get_resource_model("Group")
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   flow: {what}")
        else:
            failed += 1
            print(f"FAIL flow: {what}")

    user = c.create(
        User,
        {
            "userName": "flow.user@example.com",
            "name": {"givenName": "Flo", "familyName": "User"},
            "emails": [{"value": "flow.user@example.com", "type": "work"}],
            "active": True,
        },
    )
    check(user.id is not None, "a user is created")
    found = c.query(User, query_parameters=SearchRequest(filter='userName eq "FLOW.USER@example.com"'))
    check(found.total_results == 1 and found.resources[0].id == user.id, "the user is found by userName")
    patched = c.modify(
        User,
        user.id,
        PatchOp[User](operations=[PatchOperation(op="replace", path="name.givenName", value="Flora")]),
    )
    check(patched.name.given_name == "Flora", "a PATCH replaces the given name")
    group = c.create(Group, {"displayName": "Flow group", "members": [{"value": user.id}]})
    check(bool(group.members) and group.members[0].value == user.id, "a group is created with the user in it")
    off = c.modify(
        User,
        user.id,
        PatchOp[User](operations=[PatchOperation(op="replace", path="active", value=False)]),
    )
    check(off.active is False, "the user is deactivated")
    c.delete(Group, group.id)
    c.delete(User, user.id)
    gone = c.query(User, query_parameters=SearchRequest(filter=f'id eq "{user.id}"'))
    check(gone.total_results == 0, "the deleted user is gone")
    return passed, failed


def main():
    port, host, token = sys.argv[1], sys.argv[2], sys.argv[3]
    p1, f1, s1 = compliance(port, host, token)
    try:
        p2, f2 = flows(port, host, token)
    except Exception as e:  # a flow that cannot go on is one failure
        print(f"FAIL flow: {type(e).__name__}: {e}")
        p2, f2 = 0, 1
    passed, failed = p1 + p2, f1 + f2
    print(f"{passed} passed, {failed} failed, {s1} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
