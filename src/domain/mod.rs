//! Pure domain types. Depends on nothing else in the crate.
