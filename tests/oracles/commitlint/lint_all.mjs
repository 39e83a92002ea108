// Lint many commit messages with commitlint's Node API and config-conventional, in one process,
// with the options commitlint's CLI passes. stdin: a JSON array of messages. stdout: a JSON array
// of {valid, errors: [rule names], warnings: [rule names]} in the same order ({valid: null, crash}
// when commitlint throws, e.g. on a message of spaces only).
import load from "@commitlint/load";
import lint from "@commitlint/lint";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const messages = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const config = await load({ extends: ["@commitlint/config-conventional"] });
const options = {
  parserOpts: config.parserPreset?.parserOpts ?? {},
  plugins: config.plugins,
  ignores: config.ignores,
  defaultIgnores: config.defaultIgnores,
  helpUrl: config.helpUrl,
};
const results = [];
for (const message of messages) {
  try {
    const report = await lint(message, config.rules, options);
    results.push({ valid: report.valid, errors: report.errors.map((e) => e.name), warnings: report.warnings.map((e) => e.name) });
  } catch (err) {
    results.push({ valid: null, crash: String(err) });
  }
}
process.stdout.write(JSON.stringify(results));
