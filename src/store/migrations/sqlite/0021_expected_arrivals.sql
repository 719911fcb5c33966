-- Expected arrivals ([[expect]] in a job file): the last deadline each expectation was checked
-- at, so that a restart neither checks a deadline twice nor owes the ones before its first
-- start; and files by job and arrival, for "what arrived since the previous deadline".

CREATE TABLE arrival_checks (
    job           TEXT NOT NULL,
    -- What is expected: `statement:<account>` or `file:<pattern>`.
    expected      TEXT NOT NULL,
    last_deadline TEXT NOT NULL,
    PRIMARY KEY (job, expected)
);
CREATE INDEX files_by_job_arrival ON files(job, arrived_at);
