//! dyspatcher: a standalone end-to-end encrypted chat server. See docs/ARCHITECTURE.md.

pub mod crypto;
