-- The console's users and their sessions (issue 16).
--
-- A user logs in with a password (an Argon2id hash in PHC form; the password itself is never
-- kept) or, with no hash, only through a trusted single sign-on proxy. Names compare without
-- case, so "Anna" and "anna" cannot be two people in the history of a break.
CREATE TABLE users (
    name           TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
    role           TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'approver', 'admin')),
    password_hash  TEXT,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    updated_by     TEXT    NOT NULL
);

-- Only a SHA-256 of the session token is kept: someone who reads the database (a backup, the
-- staff group) cannot take over a session with it.
CREATE TABLE sessions (
    token_hash  TEXT NOT NULL PRIMARY KEY,
    user_name   TEXT NOT NULL COLLATE NOCASE REFERENCES users(name) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_name);
