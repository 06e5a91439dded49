-- Inbox: each row records its body's size (bytes), so that the backlog (rows, events and bytes
-- waiting: /metrics, /readyz and the 429 limit ask for it twice a second, exactly when the
-- backlog is large) is answered by an index-only scan of inbox_backlog instead of a scan of the
-- table's heap. The table holds only bodies not yet digested (a digest deletes its rows in the
-- transaction that stores their events), so filling the column here touches only the waiting
-- rows; an unchanged TOASTed body is not copied by the update. The column stays nullable: a
-- server of the previous version still running (a rolling upgrade) inserts without it, and such
-- rows are sized from their bodies (store/postgres.py inbox_backlog). Index-only scans skip the
-- heap only on pages the visibility map marks all-visible, i.e. once (auto)vacuum has passed.
ALTER TABLE inbox ADD COLUMN bytes BIGINT;
UPDATE inbox SET bytes = length(body);
CREATE INDEX inbox_backlog ON inbox (id) INCLUDE (events, bytes);
