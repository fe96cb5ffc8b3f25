// Starts `pipec lsp` for .pipe files. Everything else (diagnostics, hover, completion,
// formatting, rename) comes from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("pipec").get("path") || "pipec";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "pipec",
    "pipec language server",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "pipe" }, { scheme: "untitled", language: "pipe" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
