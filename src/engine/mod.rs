//! The in-process deploy engine.
