// GitHub's own parser of workflow files and action.yml (@actions/workflow-parser, from actions/languageservices).
// Its modules import their JSON schemas without import attributes, which Node refuses to load; esbuild bundles it
// (the parser alone: its dependencies stay ordinary imports) into one ES module that Node can import.
import { build } from 'esbuild'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from './runner.js'

type Parser = typeof import('@actions/workflow-parser') & typeof import('@actions/workflow-parser/actions/index')

/** One problem the parser found, as GitHub shows it: `<file> (Line: n, Col: m): <message>`. */
export type ParseErrors = string[]

let loaded: Promise<Parser> | undefined

export function loadWorkflowParser(): Promise<Parser> {
  loaded ??= (async () => {
    // One file per process (test files run in parallel workers), inside the checkout so that its imports of the
    // parser's dependencies resolve; removed once loaded.
    const outfile = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server-tests', `workflow-parser-${process.pid}.mjs`)
    await build({
      stdin: {
        contents: "export * from '@actions/workflow-parser'\nexport * from '@actions/workflow-parser/actions/index'\n",
        resolveDir: ROOT,
        loader: 'js',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      external: ['yaml', 'cronstrue', '@actions/expressions'],
      outfile,
      logLevel: 'silent',
    })
    try {
      return (await import(pathToFileURL(outfile).href)) as Parser
    } finally {
      rmSync(outfile, { force: true })
    }
  })()
  return loaded
}

/** Every problem GitHub would report for a workflow file: its schema, expressions and job graph. */
export async function workflowErrors(name: string, content: string): Promise<ParseErrors> {
  const p = await loadWorkflowParser()
  const parsed = p.parseWorkflow({ name, content }, new p.NoOperationTraceWriter())
  const problems = parsed.context.errors.getErrors().map((e) => e.message)
  if (problems.length || !parsed.value) return problems
  const template = await p.convertWorkflowTemplate(parsed.context, parsed.value)
  return (template.errors ?? []).map((e) => e.Message)
}

/** Every problem GitHub would report for an action.yml, and the action as GitHub reads it. */
export async function actionErrors(content: string): Promise<{ problems: ParseErrors; action?: ReturnType<Parser['convertActionTemplate']> }> {
  const p = await loadWorkflowParser()
  const parsed = p.parseAction({ name: 'action.yml', content }, new p.NoOperationTraceWriter())
  const problems = parsed.context.errors.getErrors().map((e) => e.message)
  if (problems.length || !parsed.value) return { problems }
  const action = p.convertActionTemplate(parsed.context, parsed.value)
  return { problems: parsed.context.errors.getErrors().map((e) => e.message), action }
}
