//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pipec_core::{Compilation, FileLoader, LoadError, Mode};

pub mod kube;
pub mod programs;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.pipe` files in a directory of the repository, sorted.
pub fn pipe_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pipe"))
        .collect();
    files.sort();
    files
}

/// Reads imports relative to the directory `dir`, confined to its project, as the CLI does.
pub fn dir_loader(dir: &Path) -> pipec_files::Project {
    pipec_files::Project::of_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

pub fn compile_file(path: &Path) -> Compilation {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let loader = dir_loader(path.parent().unwrap_or(Path::new(".")));
    pipec_core::compile(&name, &bytes, &loader, Mode::Compile)
}

/// Compiles source text with in-memory imports.
pub fn compile_source(name: &str, source: &str, imports: &[(&str, &str)]) -> Compilation {
    struct Memory(BTreeMap<String, Vec<u8>>);
    impl FileLoader for Memory {
        fn load(&self, path: &str) -> Result<Vec<u8>, LoadError> {
            self.0
                .get(path)
                .cloned()
                .ok_or_else(|| LoadError::Unreadable("no such file".to_string()))
        }
    }
    let memory = Memory(
        imports
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
    );
    pipec_core::compile(name, source.as_bytes(), &memory, Mode::Compile)
}

/// Diagnostics rendered without colour, as the CLI prints them.
/// The documents of `source`, which must compile without errors.
pub fn clean_documents(name: &str, source: &str) -> Vec<serde_json::Value> {
    let compilation = compile_source(name, source, &[]);
    assert!(!compilation.has_errors(), "{}", rendered(&compilation));
    parsed_documents(&compilation)
}

pub fn rendered(compilation: &Compilation) -> String {
    pipec_core::render::render_human(
        &compilation.diagnostics,
        &compilation.sources,
        pipec_core::render::RenderOptions { color: false },
    )
}

/// Panics with the rendered diagnostics if the compilation has errors.
pub fn expect_clean(path: &Path, compilation: &Compilation) {
    assert!(
        !compilation.has_errors(),
        "{} does not compile:\n{}",
        path.display(),
        rendered(compilation)
    );
}

/// The emitted YAML parsed back into JSON values, one per document.
pub fn parsed_documents(compilation: &Compilation) -> Vec<serde_json::Value> {
    compilation
        .documents
        .iter()
        .map(|d| {
            serde_saphyr::from_str::<serde_json::Value>(&d.yaml).unwrap_or_else(|e| {
                panic!(
                    "emitted YAML of {} {} does not parse: {e}\n{}",
                    d.kind, d.name, d.yaml
                )
            })
        })
        .collect()
}

/// Every file whose output the tests validate: the examples and the compile cases.
pub fn all_valid_programs() -> Vec<PathBuf> {
    let mut files = pipe_files("examples");
    files.extend(pipe_files("tests/cases/compile"));
    files.extend(pipe_files("tests/e2e"));
    files
}

/// The documents of an example or case (path from the repository root), which must compile
/// without errors.
pub fn documents(relative: &str) -> Vec<serde_json::Value> {
    let path = root().join(relative);
    let compilation = compile_file(&path);
    expect_clean(&path, &compilation);
    parsed_documents(&compilation)
}

/// The document of `kind` named (or generate-named) `name`.
pub fn find<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| {
            d["kind"] == kind
                && (d["metadata"]["name"] == name || d["metadata"]["generateName"] == name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// A template of a Workflow or WorkflowTemplate.
pub fn template<'a>(workflow: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    workflow["spec"]["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}

/// The template task `task` (of any DAG) runs, as Argo runs it: a shared template with its
/// inputs replaced by the task's arguments.
pub fn runs(workflow: &serde_json::Value, task: &str) -> serde_json::Value {
    pipec_argo_semantics::workflow::instance::task_templates(&workflow["spec"])
        .into_iter()
        .find(|t| t.name() == task)
        .map(|t| t.template)
        .unwrap_or_else(|| panic!("no task {task}"))
}

/// A task of the DAG template `dag`.
pub fn task<'a>(workflow: &'a serde_json::Value, dag: &str, name: &str) -> &'a serde_json::Value {
    template(workflow, dag)["dag"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name} in {dag}"))
}

/// The `depends` of a task of `main`, split at `&&`.
pub fn depends(workflow: &serde_json::Value, name: &str) -> Vec<String> {
    task(workflow, "main", name)["depends"]
        .as_str()
        .unwrap_or("")
        .split(" && ")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An environment variable of a script or container template: its `value`, or its
/// `valueFrom` for a secret.
pub fn env<'a>(template: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let body = if template["script"].is_object() {
        &template["script"]
    } else {
        &template["container"]
    };
    body["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .map(|e| {
            if e["value"].is_null() {
                &e["valueFrom"]
            } else {
                &e["value"]
            }
        })
        .unwrap_or_else(|| panic!("no env {name} in {}", template["name"]))
}

/// A small deterministic generator (xorshift), so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[(self.next() % choices.len() as u64) as usize]
    }
}
