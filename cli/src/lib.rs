//! The library half of the `ipv8` program: file formats it reads and writes, usable (and
//! tested) on their own.
//!
//! - [`edge_file`]: relation graphs in CSV (`from,to,type,strength,timestamp`).

pub mod edge_file;
