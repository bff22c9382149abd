//! Attachment encryption (being written).
