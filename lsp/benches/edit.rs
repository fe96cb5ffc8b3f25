//! What a keystroke costs in the editor: the diagnostics of a 2,000-line file after a
//! one-character edit, the same work the language server's checker does (compile in check
//! mode, convert positions to UTF-16), plus completion and formatting on that file. Run with
//! `cargo bench -p pipec-lsp --bench edit`; results are kept in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lsp_types::Url;
use pipec_core::ide;
use pipec_syntax::FileId;

#[path = "../../compiler/core/benches/support/mod.rs"]
mod support;
use support::pipeline;

fn main() {
    divan::main();
}

/// The file after a one-character edit in its middle: `image = ship_25` → `image = ship_2x`
/// (an unknown name: the edit produces a diagnostic, as typing does).
fn edited() -> String {
    pipeline(65).replacen("image    = ship_25\n", "image    = ship_2x\n", 1)
}

#[divan::bench]
fn diagnostics_after_one_character_edit(bencher: divan::Bencher) {
    let url = Url::parse("file:///bench/pipeline.pipe").unwrap();
    let text = edited();
    assert!(
        text.lines().count() >= 2000,
        "{} lines",
        text.lines().count()
    );
    bencher.bench(|| {
        let published = pipec_lsp::check_document(divan::black_box(&url), divan::black_box(&text));
        assert!(published.values().any(|d| !d.is_empty()));
        published
    });
}

#[divan::bench]
fn completion_in_the_last_service(bencher: divan::Bencher) {
    let text = pipeline(65);
    let compilation = pipec_core::compile(
        "p.pipe",
        text.as_bytes(),
        &pipec_core::NoImports,
        pipec_core::Mode::Check,
    );
    let offset = text.rfind("replicas = 4").unwrap();
    bencher.bench(|| {
        ide::completions(
            divan::black_box(&text),
            offset,
            &compilation.index,
            FileId(0),
        )
    });
}

#[divan::bench]
fn format_the_file(bencher: divan::Bencher) {
    let text = pipeline(65);
    bencher.bench(|| pipec_syntax::format::format(divan::black_box(&text)).unwrap());
}

/// Many diagnostics at once (every service names an unknown image: 65 errors): converting
/// them must stay linear in the file, not in errors × file size.
#[divan::bench]
fn diagnostics_of_a_file_with_an_error_per_block(bencher: divan::Bencher) {
    let url = Url::parse("file:///bench/pipeline.pipe").unwrap();
    let text = pipeline(65).replace("image    = ship_", "image    = shipx_");
    bencher.bench(|| {
        let published = pipec_lsp::check_document(divan::black_box(&url), divan::black_box(&text));
        assert!(published.values().map(Vec::len).sum::<usize>() >= 65);
        published
    });
}
