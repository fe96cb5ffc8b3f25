//! The standard library: `.pipe` modules embedded in the binary, imported with `use std.NAME`.
//! The sources live in `stdlib/` at the repository root so they read like any user file.

/// `(module name, source)`, sorted by name.
pub const MODULES: &[(&str, &str)] = &[
    ("analysis", include_str!("../../../stdlib/analysis.pipe")),
    ("db", include_str!("../../../stdlib/db.pipe")),
    ("notify", include_str!("../../../stdlib/notify.pipe")),
];

pub fn module(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}
