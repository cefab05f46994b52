#!/usr/bin/env bash
# The rules the layout of idp/ keeps (docs/architecture.md, "Rules"), checked
# on the source text. Each rule prints the lines that break it; the script
# fails when any does. Run by `./dev.sh lint`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

failed=0

# rule NAME PATTERN PATH... [-- EXCLUDED-PATH-PREFIX...]
rule() {
    local name="$1" pattern="$2"
    shift 2
    local paths=() excluded=()
    while (($#)); do
        if [[ "$1" == -- ]]; then
            shift
            excluded=("$@")
            break
        fi
        paths+=("$1")
        shift
    done
    local hits
    hits="$(grep -rnE --include='*.rs' "$pattern" "${paths[@]}" 2>/dev/null || true)"
    for prefix in "${excluded[@]}"; do
        hits="$(grep -v "^$prefix" <<<"$hits" || true)"
    done
    if [[ -n "$hits" ]]; then
        echo "layout rule broken: $name"
        sed 's/^/    /' <<<"$hits"
        failed=1
    fi
}

rule "nothing outside idp/src/web/ imports axum" \
    '\baxum\b' idp/src wire/src -- idp/src/web/
# The protocols' readers moved to wire/ (portcullis-wire) keep the engines' rule.
rule "the protocol engines (oidc/, saml/, ldap/, scim/, and their readers in wire/) use no http types" \
    '(^|[^a-zA-Z_])http::[A-Za-z{]' idp/src/oidc idp/src/saml idp/src/ldap idp/src/scim \
    wire/src/saml wire/src/scim wire/src/dn.rs wire/src/form.rs wire/src/jws.rs
rule "the protocol engines (oidc/, saml/, ldap/) never import the web layer" \
    'crate::web\b|super::super::web\b' idp/src/oidc idp/src/saml idp/src/ldap
rule "SQL only in idp/src/store/" \
    'sqlx::(query|Row|Executor|Transaction)|\bsqlx::[a-z_]+!' idp/src gateway/src wire/src -- idp/src/store/
rule "the gateway never calls the state store; it goes through the core" \
    '\.store\.[a-z_]+\(|(^|[^.a-z_])idp\.store\b' gateway/src
rule "the audit trail is written only by core modules" \
    'crate::audit|audit::record|idp::audit' idp/src/web gateway/src wire/src

# wire/ is what the fuzz targets link, and CI builds them cold within its
# budget (fuzz/README.md): it depends on no Portcullis crate, database,
# runtime, web framework or C library.
heavy="$(grep -nE '^(idp|portcullis|sqlx|tokio|axum|hyper|reqwest|redis|openssl|samael|pingora|ring|aws-lc-rs|webauthn-rs|lettre)([._-][a-z_.-]*)? *=' wire/Cargo.toml || true)"
if [[ -n "$heavy" ]]; then
    echo "layout rule broken: wire/ (the fuzzed parsers) stays light"
    sed 's/^/    /' <<<"$heavy"
    failed=1
fi

if ((failed)); then
    exit 1
fi
echo "layout rules: all kept"
