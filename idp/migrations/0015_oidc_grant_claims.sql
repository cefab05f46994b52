-- The `claims` request parameter (OpenID Connect Core 5.5) a grant was made
-- with: the claims its ID tokens and userinfo release beyond its scopes.
ALTER TABLE oidc_grants ADD COLUMN claims TEXT;
