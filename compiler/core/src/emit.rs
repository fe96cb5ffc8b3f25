//! Emission: documents → YAML text. Deterministic: struct fields serialize in declaration
//! order and maps are sorted, so the same program always gives the same bytes.

use pipec_argo_model::Document;

/// One emitted document.
#[derive(Clone, Debug, PartialEq)]
pub struct Emitted {
    pub kind: &'static str,
    pub name: String,
    /// `None`: the namespace the documents are applied to.
    pub namespace: Option<String>,
    pub yaml: String,
}

impl Emitted {
    /// A file name for `-o DIR`: `workflow-addressbook.yaml`, `rollout-addressbook.yaml`, and
    /// `rollout-api.prod.yaml` for a Rollout in namespace `prod`. Namespaces are DNS labels,
    /// so the `.` keeps objects of one name in two namespaces apart; the final-names pass
    /// ([`crate::names`]) has made sure no two documents share a kind, namespace and name.
    pub fn file_name(&self) -> String {
        // A run's `generateName` (`peers-`) names its file without the dash; an object's own
        // name never ends in one (DNS-1123).
        let name = pipec_argo_model::contract::base_of_generate_name(&self.name);
        match &self.namespace {
            Some(ns) => format!("{}-{name}.{ns}.yaml", self.kind.to_ascii_lowercase()),
            None => format!("{}-{name}.yaml", self.kind.to_ascii_lowercase()),
        }
    }
}

/// Serializes one document. serde-saphyr quotes every string YAML would read as another type
/// (`on`, `yes`, `1:30`, `0x1F`, dates) and writes multi-line text as literal blocks.
pub fn to_yaml(document: &Document) -> Result<String, String> {
    let options = serde_saphyr::ser_options! {
        indent_step: 2,
        // Long single-line strings (conditions, queries) stay on one line: folding them would
        // be correct YAML but harder to read and to grep.
        folded_wrap_chars: usize::MAX,
    };
    serde_saphyr::to_string_with_options(document, options).map_err(|e| e.to_string())
}

/// Emits every document; the error names the document that failed (a compiler bug).
pub fn emit<'d>(documents: impl IntoIterator<Item = &'d Document>) -> Result<Vec<Emitted>, String> {
    documents
        .into_iter()
        .map(|d| {
            Ok(Emitted {
                kind: d.kind(),
                name: d.name().to_string(),
                namespace: d.metadata().namespace.clone(),
                yaml: to_yaml(d).map_err(|e| format!("{} {}: {e}", d.kind(), d.name()))?,
            })
        })
        .collect()
}

/// Joins documents into one multi-document YAML stream for `kubectl apply -f -`.
pub fn join(documents: &[Emitted]) -> String {
    let mut out = String::new();
    for (i, d) in documents.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&d.yaml);
        if !d.yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
