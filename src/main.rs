//! `pipec`: the command line. Parses arguments, reads files, calls the compiler, writes
//! diagnostics and documents. Everything the compiler knows lives in `pipec-core`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
