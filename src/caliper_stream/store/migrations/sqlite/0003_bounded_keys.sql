-- Indexed key-data columns hold at most 256 characters (then "…"; the whole value stays in raw):
-- PostgreSQL cannot index longer values, and both backends must store every event the same way.
UPDATE events SET type = substr(type, 1, 256) || '…' WHERE length(type) > 256;
UPDATE events SET action = substr(action, 1, 256) || '…' WHERE length(action) > 256;
UPDATE events SET course_number = substr(course_number, 1, 256) || '…' WHERE length(course_number) > 256;
UPDATE events SET user_uuid = substr(user_uuid, 1, 256) || '…' WHERE length(user_uuid) > 256;
UPDATE events SET source = substr(source, 1, 256) || '…' WHERE length(source) > 256;
