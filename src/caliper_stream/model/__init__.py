"""The schema as msgspec Structs: typed *views* of events decoded straight from raw bytes."""
