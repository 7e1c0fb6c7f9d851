//! The library half of the `ipv8` program: file formats it reads and writes, usable (and
//! tested) on their own.
//!
//! - [`edge_file`]: relation graphs in CSV (`from,to,type,strength,timestamp`);
//! - [`record_file`]: signed records as JSON lines, and identity files.

pub mod edge_file;
pub mod record_file;
