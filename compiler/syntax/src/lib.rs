//! The syntax of `.pipe` files: spans, tokens, the lexer, the AST and the parser.
//!
//! Invariants: parsing never fails (it returns an AST plus errors, recovering past bad
//! declarations so the editor keeps working on half-typed files); this crate knows nothing of
//! types, YAML, diagnostics codes or the language server.

pub mod format;
pub mod lexer;
pub mod span;
pub mod token;

pub use span::{FileId, Span, Spanned};
pub mod ast;
pub mod parser;

pub use parser::{ParseError, Parsed, SyntaxError, parse};
