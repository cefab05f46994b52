-- Back-channel logout tokens waiting for delivery (OpenID Connect
-- Back-Channel Logout 1.0). A row is written in the same moment the grants
-- are revoked, by whichever process ended the sessions (an instance, or the
-- short-lived admin CLI), and delivered by a serving instance. The token
-- itself is not stored: it is signed at each attempt, so its iat/exp are
-- fresh after a long back-off and the table holds nothing an RP would accept.
--
-- Claiming: an instance takes a row with
--   UPDATE ... SET claimed_until = now + lease, claim = <random>
--   WHERE id = ? AND claimed_until < now
-- so of several instances exactly one wins; a claim left by an instance that
-- died expires with its lease and the row is taken again.
CREATE TABLE backchannel_outbox (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- The OP session's sid as the ID tokens carry it; NULL for the sub-only form.
    sid TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    claim TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX backchannel_outbox_due ON backchannel_outbox(next_attempt_at);
