-- A rotated-in SAML certificate is published first and signs only from
-- activates_at (NULL: from created_at), so SPs that refresh metadata learn
-- it before it is used. The previous signer's retired_at is then the same
-- future instant: it signs until then and stays published for
-- saml.cert_overlap after.
ALTER TABLE saml_certs ADD COLUMN activates_at BIGINT;
