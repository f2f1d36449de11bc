//! The pure, synchronous stages between a source and the writer: filter (with its expression
//! language) and dedup. No I/O.

pub mod dedup;
pub mod expr;
pub mod filter;
