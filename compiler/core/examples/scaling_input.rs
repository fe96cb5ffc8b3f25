//! Prints a generated pipeline for the whole-process timings (`benches/whole-process.sh`):
//! `cargo run -p pipec-core --example scaling_input -- peer 1000 > peers.pipe`
//! (`peer`: the peer scenario of BENCHMARKS.md; `bench`: the divan benchmarks' pipeline).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../benches/support/mod.rs"]
mod support;

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "peer".to_string());
    let count: usize = match args.next().map(|n| n.parse()) {
        Some(Ok(n)) => n,
        None => 1,
        Some(Err(e)) => {
            eprintln!("scaling_input: the count is not a number: {e}");
            std::process::exit(2);
        }
    };
    let text = match kind.as_str() {
        "peer" => support::peer_pipeline(count),
        "bench" => support::pipeline(count),
        other => {
            eprintln!("scaling_input: unknown kind `{other}` (peer or bench)");
            std::process::exit(2);
        }
    };
    print!("{text}");
}
