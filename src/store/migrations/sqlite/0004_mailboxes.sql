-- Mailboxes: what was taken from each, so a restart, a redelivered message, or the same
-- attachment in two mails never posts twice, and nothing is taken twice or lost.

-- Where each mailbox stands: its UIDVALIDITY and the highest UID done (IMAP only).
CREATE TABLE mail_cursors (
    mailbox     TEXT    PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL
);

-- Every message handled, with what became of it. `message_key` is "UIDVALIDITY/UID" for IMAP
-- and the unique part of the file name for a Maildir.
CREATE TABLE mail_messages (
    id          INTEGER PRIMARY KEY,
    mailbox     TEXT    NOT NULL,
    message_key TEXT    NOT NULL,
    message_id  TEXT,
    sender      TEXT,
    subject     TEXT,
    sent_at     TEXT,
    handled_at  TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('processed', 'failed', 'refused', 'duplicate')),
    attachments INTEGER NOT NULL,
    detail      TEXT,
    UNIQUE (mailbox, message_key)
);
CREATE INDEX mail_messages_by_message_id ON mail_messages(message_id);

-- Every attachment handed to a job, written in the same transaction as the job's work on it.
CREATE TABLE mail_attachments (
    mailbox     TEXT    NOT NULL,
    message_key TEXT    NOT NULL,
    part        INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    job         TEXT    NOT NULL,
    file_id     INTEGER REFERENCES files(id),
    PRIMARY KEY (mailbox, message_key, part)
);
