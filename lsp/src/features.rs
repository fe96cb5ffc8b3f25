//! The requests: each reads the document's analysis and answers in protocol terms.

use std::collections::HashMap;

use lsp_server::{ErrorCode, Request};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CompletionItem,
    CompletionItemKind, CompletionParams, CompletionResponse, DocumentFormattingParams,
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams,
    GotoDefinitionResponse, Hover, HoverContents, HoverParams, MarkupContent, MarkupKind, Position,
    Range, ReferenceParams, RenameParams, SymbolKind, TextEdit, Url, WorkspaceEdit,
};
use pipec_core::ide::{self, CompletionKind};
use pipec_syntax::FileId;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Analysis, Server};

type Answer = Result<Value, (ErrorCode, String)>;

fn params<P: DeserializeOwned>(request: &Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(request.params.clone())
        .map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn json<T: serde::Serialize>(value: T) -> Answer {
    serde_json::to_value(value).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

/// The analysis of an open document, and the byte offset of a position in it.
fn at(
    server: &Server,
    url: &Url,
    position: Position,
) -> Result<(std::sync::Arc<Analysis>, usize), (ErrorCode, String)> {
    let analysis = server
        .analysis(url)
        .ok_or((ErrorCode::InvalidParams, format!("{url} is not open")))?;
    let offset = analysis.lines.offset(&analysis.text, position);
    Ok((analysis, offset))
}

pub(crate) fn answer(server: &Server, request: Request) -> Answer {
    match request.method.as_str() {
        "textDocument/hover" => {
            let p: HoverParams = params(&request)?;
            let doc = p.text_document_position_params;
            let (analysis, offset) = at(server, &doc.text_document.uri, doc.position)?;
            json(hover(&analysis, offset))
        }
        "textDocument/definition" => {
            let p: GotoDefinitionParams = params(&request)?;
            let doc = p.text_document_position_params;
            let (analysis, offset) = at(server, &doc.text_document.uri, doc.position)?;
            let index = &analysis.compilation.index;
            let location = index
                .definition_at(FileId(0), offset as u32)
                .and_then(|d| analysis.location_of(index.definitions[d].name_span));
            json(location.map(GotoDefinitionResponse::Scalar))
        }
        "textDocument/references" => {
            let p: ReferenceParams = params(&request)?;
            let doc = p.text_document_position;
            let (analysis, offset) = at(server, &doc.text_document.uri, doc.position)?;
            let index = &analysis.compilation.index;
            let Some(d) = index.definition_at(FileId(0), offset as u32) else {
                return json(Vec::<lsp_types::Location>::new());
            };
            let mut spans = index.uses_of(d);
            if p.context.include_declaration {
                spans.insert(0, index.definitions[d].name_span);
            }
            json(
                spans
                    .into_iter()
                    .filter_map(|s| analysis.location_of(s))
                    .collect::<Vec<_>>(),
            )
        }
        "textDocument/documentSymbol" => {
            let p: DocumentSymbolParams = params(&request)?;
            let analysis = server
                .analysis(&p.text_document.uri)
                .ok_or((ErrorCode::InvalidParams, "not open".to_string()))?;
            json(DocumentSymbolResponse::Nested(symbols(&analysis)))
        }
        "textDocument/completion" => {
            let p: CompletionParams = params(&request)?;
            let doc = p.text_document_position;
            let (analysis, offset) = at(server, &doc.text_document.uri, doc.position)?;
            let items: Vec<CompletionItem> = ide::completions(
                &analysis.text,
                offset,
                &analysis.compilation.index,
                FileId(0),
            )
            .into_iter()
            .map(|c| CompletionItem {
                label: c.label,
                kind: Some(match c.kind {
                    CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                    CompletionKind::Property => CompletionItemKind::PROPERTY,
                    CompletionKind::Name => CompletionItemKind::VARIABLE,
                    CompletionKind::Function => CompletionItemKind::FUNCTION,
                    CompletionKind::Field => CompletionItemKind::FIELD,
                }),
                detail: (!c.detail.is_empty()).then_some(c.detail),
                ..CompletionItem::default()
            })
            .collect();
            json(CompletionResponse::Array(items))
        }
        "textDocument/formatting" => {
            let p: DocumentFormattingParams = params(&request)?;
            let doc = server
                .documents
                .get(&p.text_document.uri)
                .ok_or((ErrorCode::InvalidParams, "not open".to_string()))?;
            // A file with syntax errors is not formatted: no edits rather than a guess.
            let Ok(formatted) = pipec_syntax::format::format(&doc.text) else {
                return Ok(Value::Null);
            };
            if formatted == *doc.text {
                return json(Vec::<TextEdit>::new());
            }
            let lines = crate::LineIndex::new(&doc.text);
            let whole = lines.range(&doc.text, 0, doc.text.len());
            json(vec![TextEdit::new(whole, formatted)])
        }
        "textDocument/rename" => {
            let p: RenameParams = params(&request)?;
            let doc = p.text_document_position;
            let (analysis, offset) = at(server, &doc.text_document.uri, doc.position)?;
            json(rename(&analysis, offset, &p.new_name)?)
        }
        "textDocument/semanticTokens/full" => {
            let p: lsp_types::SemanticTokensParams = params(&request)?;
            let doc = server
                .documents
                .get(&p.text_document.uri)
                .ok_or((ErrorCode::InvalidParams, "not open".to_string()))?;
            json(lsp_types::SemanticTokens {
                result_id: None,
                data: crate::semantic::tokens(&doc.text),
            })
        }
        "textDocument/codeAction" => {
            let p: CodeActionParams = params(&request)?;
            let analysis = server
                .analysis(&p.text_document.uri)
                .ok_or((ErrorCode::InvalidParams, "not open".to_string()))?;
            json(code_actions(&analysis, &p))
        }
        other => Err((
            ErrorCode::MethodNotFound,
            format!("pipec lsp does not answer {other}"),
        )),
    }
}

fn hover(analysis: &Analysis, offset: usize) -> Option<Hover> {
    let index = &analysis.compilation.index;
    let text = match index.definition_at(FileId(0), offset as u32) {
        Some(d) => index.describe(d)?,
        None => ide::hover_word(&analysis.text, offset, index)?,
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: None,
    })
}

/// The outline: the file's top-level definitions, a pipeline's members inside it.
fn symbols(analysis: &Analysis) -> Vec<DocumentSymbol> {
    let index = &analysis.compilation.index;
    let symbol = |i: usize, children: Option<Vec<DocumentSymbol>>| -> Option<DocumentSymbol> {
        let d = &index.definitions[i];
        #[allow(deprecated)] // `deprecated` is a required field of the struct
        Some(DocumentSymbol {
            name: d.name.clone(),
            detail: Some(d.kind.to_string()),
            kind: match d.kind {
                "pipeline" => SymbolKind::MODULE,
                "analysis" | "service definition" | "step definition" => SymbolKind::FUNCTION,
                "param" | "parameter" => SymbolKind::VARIABLE,
                "secret" => SymbolKind::KEY,
                "service" => SymbolKind::CLASS,
                "environment" => SymbolKind::NAMESPACE,
                _ => SymbolKind::OBJECT,
            },
            tags: None,
            deprecated: None,
            range: analysis.range_of(d.span)?,
            selection_range: analysis.range_of(d.name_span)?,
            children,
        })
    };
    let in_file = |i: &usize| index.definitions[*i].name_span.file == FileId(0);
    // Children by parent, in one pass.
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, d) in index.definitions.iter().enumerate() {
        if let Some(parent) = d.parent {
            children.entry(parent).or_default().push(i);
        }
    }
    (0..index.definitions.len())
        .filter(in_file)
        .filter(|i| index.definitions[*i].parent.is_none())
        .filter_map(|top| {
            let nested: Vec<DocumentSymbol> = children
                .get(&top)
                .into_iter()
                .flatten()
                .filter_map(|&i| symbol(i, None))
                .collect();
            symbol(top, Some(nested))
        })
        .collect()
}

fn rename(
    analysis: &Analysis,
    offset: usize,
    new_name: &str,
) -> Result<Option<WorkspaceEdit>, (ErrorCode, String)> {
    let index = &analysis.compilation.index;
    let Some(d) = index.definition_at(FileId(0), offset as u32) else {
        return Ok(None);
    };
    let definition = &index.definitions[d];
    if !ide::is_user_file(&analysis.compilation.sources, definition.name_span.file) {
        return Err((
            ErrorCode::InvalidRequest,
            format!("`{}` is defined in the standard library", definition.name),
        ));
    }
    let valid = new_name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && new_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !pipec_syntax::parser::is_reserved(new_name);
    if !valid {
        return Err((
            ErrorCode::InvalidParams,
            format!(
                "`{new_name}` is not a valid name: letters, digits and `_`, not a reserved word"
            ),
        ));
    }
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    let spans = std::iter::once(definition.name_span).chain(index.uses_of(d));
    for span in spans {
        if let Some(location) = analysis.location_of(span) {
            changes
                .entry(location.uri)
                .or_default()
                .push(TextEdit::new(location.range, new_name.to_string()));
        }
    }
    Ok(Some(WorkspaceEdit::new(changes)))
}

/// Quick fixes: take a "did you mean" suggestion; import a standard library definition that
/// is used but not imported.
fn code_actions(analysis: &Analysis, p: &CodeActionParams) -> Vec<CodeActionOrCommand> {
    let mut out = Vec::new();
    for diagnostic in &p.context.diagnostics {
        if let Some(suggestion) = diagnostic
            .message
            .split("did you mean `")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
        {
            let edit = TextEdit::new(diagnostic.range, suggestion.to_string());
            out.push(quick_fix(
                format!("Replace with `{suggestion}`"),
                &p.text_document.uri,
                edit,
                diagnostic,
            ));
        }
        let lines = &analysis.lines;
        let start = lines.offset(&analysis.text, diagnostic.range.start);
        let end = lines.offset(&analysis.text, diagnostic.range.end);
        let name = analysis.text.get(start..end).unwrap_or_default();
        if let Some(module) = (!name.is_empty())
            .then(|| pipec_core::stdlib::module_defining(name))
            .flatten()
        {
            let line = format!("use std.{module}.{name}\n");
            if !analysis.text.contains(line.trim_end()) {
                let top = Range::new(Position::new(0, 0), Position::new(0, 0));
                out.push(quick_fix(
                    format!("Import `{name}` from std.{module}"),
                    &p.text_document.uri,
                    TextEdit::new(top, line),
                    diagnostic,
                ));
            }
        }
    }
    out
}

fn quick_fix(
    title: String,
    uri: &Url,
    edit: TextEdit,
    diagnostic: &lsp_types::Diagnostic,
) -> CodeActionOrCommand {
    CodeActionOrCommand::CodeAction(CodeAction {
        title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic.clone()]),
        edit: Some(WorkspaceEdit::new(HashMap::from([(
            uri.clone(),
            vec![edit],
        )]))),
        is_preferred: Some(true),
        ..CodeAction::default()
    })
}
