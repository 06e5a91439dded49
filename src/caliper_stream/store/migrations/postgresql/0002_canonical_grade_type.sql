-- Caliper 1.1 replaced 1.0's OutcomeEvent by GradeEvent: key data speaks of the canonical type
-- and keeps the type as sent in original_type (the raw bytes and the event key are unchanged).
ALTER TABLE events ADD COLUMN original_type TEXT;
UPDATE events SET original_type = type, type = 'GradeEvent' WHERE type = 'OutcomeEvent';
