-- Nothing to change in the database: SQLite's inbox is a file of its own (store/inbox_file.py),
-- which compresses its bodies itself. (The number keeps both dialects' versions in step.)
SELECT 1;
