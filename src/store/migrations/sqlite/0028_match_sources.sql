-- Where an entry came from when what it settles is not a record but documents: a payables
-- entry's invoice file and line, the purchase order and goods receipt lines it used ("po.csv
-- line 2 (purchase order PO-1 line 1)"). Shown with the records' sources as the entry's
-- sources, in the order the posting gave them.
CREATE TABLE match_sources (
    match_id INTEGER NOT NULL REFERENCES matches(id),
    position INTEGER NOT NULL,
    source   TEXT    NOT NULL,
    PRIMARY KEY (match_id, position)
);
