-- Sign-outs the session store could not take (Redis away): the session's
-- key (the SHA-256 of its cookie, never the cookie) and when the person
-- signed out. A serving instance ends each session once the session store
-- answers again, then deletes the row; ending twice is harmless, so
-- several instances may race on a row.
CREATE TABLE pending_signouts (
    session_key TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
