-- A tile's logo uploaded in the admin console, kept in the database so every
-- instance serves it. Base64 text rather than a blob: one column type that
-- SQLite and PostgreSQL both read the same way through sqlx Any. `etag` is
-- the SHA-256 of the image, which the portal's logo URL carries, so a
-- browser may cache a logo for good and a new upload is a new URL.
CREATE TABLE application_logos (
    application_id TEXT PRIMARY KEY REFERENCES applications(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    data TEXT NOT NULL,
    etag TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
