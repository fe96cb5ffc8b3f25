//! `pipec`: the command line. Parses arguments, reads files, calls the compiler, writes
//! diagnostics and documents; the cluster verbs call `pipec-runtime` and print progress.
//! Everything the compiler knows lives in `pipec-core`, everything about clusters in
//! `pipec-runtime`.

mod cli;
mod cluster_cli;
mod fmt;
mod reporter;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
