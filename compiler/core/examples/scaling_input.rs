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
    if kind == "peer-split" {
        // `peer-split N PER DIR`: the scenario's N services as pipelines of PER services,
        // one file each in DIR, as a monorepo past E0409's limit keeps them.
        let per: usize = args
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(200)
            .max(1);
        let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".to_string()));
        std::fs::create_dir_all(&dir).expect("the output directory");
        for (part, first) in (0..count).step_by(per).enumerate() {
            let name = format!("peers_{part}");
            let text = support::peer_pipeline_part(&name, first..count.min(first + per));
            std::fs::write(dir.join(format!("{name}.pipe")), text).expect("a written part");
        }
        return;
    }
    let text = match kind.as_str() {
        "peer" => support::peer_pipeline(count),
        "bench" => support::pipeline(count),
        other => {
            eprintln!("scaling_input: unknown kind `{other}` (peer, peer-split or bench)");
            std::process::exit(2);
        }
    };
    print!("{text}");
}
