-- Tries at handling a message that ended without the message being recorded: the handling
-- panicked, or clerk died while on it (a mail that crashes the parser would otherwise be read
-- again at every start, and every mail behind it would wait). A message tried this often is
-- set aside with a break. Recording the message (whatever became of it) removes its row.
CREATE TABLE mail_tries (
    mailbox     TEXT    NOT NULL,
    message_key TEXT    NOT NULL,
    tries       INTEGER NOT NULL,
    last_error  TEXT,
    PRIMARY KEY (mailbox, message_key)
);
