-- Every LogoutRequest accepted from an SP, remembered like AuthnRequest IDs
-- (saml_requests): a second arrival of the same ID from the same SP is a
-- replay and ends nothing. Kept until a replay could no longer pass the
-- clock-skew and NotOnOrAfter checks.
CREATE TABLE saml_logout_requests (
    sp_entity_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (sp_entity_id, request_id)
);
CREATE INDEX saml_logout_requests_expiry ON saml_logout_requests(expires_at);

-- SP-initiated logout finds the SAML session by the SP and the SessionIndex
-- it was given (an SP's cross-site POST carries no portal cookie).
CREATE INDEX saml_sessions_index ON saml_sessions(sp_entity_id, session_index);
