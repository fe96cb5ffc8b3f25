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

/// The names a module defines (analyses, service and step definitions), in source order.
/// Parsed once per process: unknown names ask on every check of a broken file.
pub fn definitions(module_name: &str) -> &'static [String] {
    static DEFINED: std::sync::OnceLock<Vec<(&'static str, Vec<String>)>> =
        std::sync::OnceLock::new();
    let all = DEFINED.get_or_init(|| {
        MODULES
            .iter()
            .map(|(name, text)| {
                let names = pipec_syntax::parse(text, pipec_syntax::FileId(0))
                    .module
                    .items
                    .iter()
                    .filter_map(|item| match item {
                        pipec_syntax::ast::Item::Analysis(a) => Some(a.name.name.clone()),
                        pipec_syntax::ast::Item::Template(t) => Some(t.name.name.clone()),
                        _ => None,
                    })
                    .collect();
                (*name, names)
            })
            .collect()
    });
    all.iter()
        .find(|(name, _)| *name == module_name)
        .map_or(&[], |(_, names)| names.as_slice())
}

/// The module that defines `name`, for the help of an unknown name and the editor's "import
/// it" fix.
pub fn module_defining(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .map(|(module, _)| *module)
        .find(|module| definitions(module).iter().any(|d| d == name))
}
