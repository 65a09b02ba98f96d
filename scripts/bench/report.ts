// BENCHMARKS.md: one section per benchmark, each between markers, so that running one benchmark replaces its
// own section and keeps the others (with the machine, date and commit they were measured on).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from '../../test/support/runner.js'
import { describeMachine, type Machine } from './machine.js'
import { median, pairedDifferences, summarize } from './stats.js'

export type Unit = 's' | 'bytes' | 'bytes/s' | 'count'

export interface Figure {
  name: string
  unit: Unit
  samples: number[]
  /** What the figure is compared with, measured in the same run. */
  anchor?: { name: string; samples: number[] }
  /** `ratio`: figure / anchor (of the medians); `added`: the median of per-run differences (runs taken in turn). */
  compare?: 'ratio' | 'added'
  target?: { text: string; met: boolean }
}

export interface Table {
  title: string
  header: string[]
  rows: string[][]
}

export interface Section {
  id: string
  title: string
  /** The command that reproduces it. */
  command: string
  intro: string
  figures: Figure[]
  tables?: Table[]
  notes?: string[]
}

export const BENCHMARKS_MD = path.join(ROOT, 'BENCHMARKS.md')

const HEAD = `# Benchmarks

Written by \`npm run bench\` (see the README's "Benchmarks" for the options); every section says when, on which
machine and at which commit it was measured, and the command that measures it again. Each figure is the median
over several runs, with the spread (smallest to largest), against an anchor measured in the same run: what a
user would do by hand, or the tool the action is compared with. The ratios are the claim; absolute times on a
shared machine are context.
`

export function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a'
  switch (unit) {
    case 's':
      return Math.abs(value) < 10 ? `${value.toFixed(3)} s` : `${value.toFixed(1)} s`
    case 'bytes':
      return formatBytes(value)
    case 'bytes/s':
      return `${formatBytes(value)}/s`
    case 'count':
      return Number.isInteger(value) ? String(value) : value.toFixed(1)
  }
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

/** `figure / anchor` or `figure − anchor`, as the figure says; undefined without an anchor. */
export function comparison(f: Figure): number | undefined {
  if (!f.anchor) return undefined
  if (f.compare === 'added') return median(pairedDifferences(f.samples, f.anchor.samples))
  return median(f.samples) / median(f.anchor.samples)
}

function figureRow(f: Figure): string[] {
  const s = summarize(f.samples)
  const spread = s.n > 1 ? `${formatValue(s.min, f.unit)} – ${formatValue(s.max, f.unit)}` : '(one run)'
  const c = comparison(f)
  const ratio = f.anchor ? median(f.samples) / median(f.anchor.samples) : undefined
  const times = (r: number) => `${r < 0.1 ? r.toPrecision(2) : r.toFixed(2)}×`
  const versus = c === undefined || ratio === undefined ? '' : f.compare === 'added' ? `${c < 0 ? '' : '+'}${formatValue(c, f.unit)} (${times(ratio)})` : times(ratio)
  const anchor = f.anchor ? `${f.anchor.name}: ${formatValue(median(f.anchor.samples), f.unit)}` : ''
  const target = f.target ? `${f.target.text}: ${f.target.met ? 'met' : '**not met**'}` : ''
  return [f.name, formatValue(s.median, f.unit), spread, String(s.n), anchor, versus, target]
}

function markdownTable(header: string[], rows: string[][]): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|').replace(/\n/g, ' ')
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.map(escape).join(' | ')} |`).join('\n')
}

function commit(): string {
  try {
    const sha = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim()
    return dirty ? `${sha} (with uncommitted changes)` : sha
  } catch {
    return 'unknown'
  }
}

export function renderSection(section: Section, m: Machine, when: Date): string {
  const parts = [
    `## ${section.title}`,
    `Measured ${when.toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${commit()} on ${describeMachine(m)}.\nReproduce: \`${section.command}\``,
    section.intro,
    markdownTable(['figure', 'median', 'spread', 'runs', 'anchor (median)', 'vs anchor', 'target'], section.figures.map(figureRow)),
  ]
  for (const table of section.tables ?? []) parts.push(`${table.title}\n\n${markdownTable(table.header, table.rows)}`)
  if (section.notes?.length) parts.push(section.notes.map((n) => `- ${n}`).join('\n'))
  return `<!-- bench:${section.id} -->\n${parts.join('\n\n')}\n<!-- /bench:${section.id} -->`
}

/** Replaces (or adds, in `order`) each section's block in BENCHMARKS.md and keeps the others. */
export function writeSections(rendered: Map<string, string>, order: string[]): void {
  const old = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, 'utf8') : ''
  const blocks = new Map<string, string>()
  for (const m of old.matchAll(/<!-- bench:([\w-]+) -->\n[\s\S]*?\n<!-- \/bench:\1 -->/g)) blocks.set(m[1] as string, m[0])
  for (const [id, text] of rendered) blocks.set(id, text)
  const ids = [...order.filter((id) => blocks.has(id)), ...[...blocks.keys()].filter((id) => !order.includes(id))]
  writeFileSync(BENCHMARKS_MD, `${HEAD}\n${ids.map((id) => blocks.get(id)).join('\n\n')}\n`)
}
