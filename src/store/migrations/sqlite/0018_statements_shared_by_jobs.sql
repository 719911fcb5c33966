-- A statement is taken once per job, and offered to every other job that reads its account
-- (bank reconciliation and accounts payable both read the house bank's statements). A copy
-- offered from another job's file remembers that file: the job receiving the statement itself
-- later is not told it was "received before".
ALTER TABLE statements ADD COLUMN offered_from INTEGER REFERENCES files(id);
CREATE INDEX statements_by_job ON statements(job, identity);
CREATE INDEX statements_by_job_account ON statements(account, currency, job);

-- A bank line is posted once, whichever job posts it: the copies of a statement line other
-- jobs hold are found by identity and closed with it.
CREATE INDEX records_statement_identity ON records(identity) WHERE side = 'statement';
