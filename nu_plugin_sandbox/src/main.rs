//! Nushell plugin for sandbox sessions (work in progress).

fn main() {}
