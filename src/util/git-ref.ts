// The rules of `git check-ref-format` (with --allow-onelevel), plus no leading '-', so that a ref can never be
// read as an option by git or smuggle in a path. Returns why a name is not a valid ref, or undefined.
export function gitRefProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'it is empty'
  if (ref.startsWith('-')) return "it starts with '-'"
  if (/[\x00-\x20\x7f]/.test(ref)) return 'it has a space or a control character'
  const bad = /[~^:?*[\\]/.exec(ref)
  if (bad) return `it has '${bad[0]}'`
  if (ref.includes('..')) return "it has '..'"
  if (ref.includes('@{')) return "it has '@{'"
  if (ref === '@') return "it is '@'"
  if (ref.startsWith('/') || ref.endsWith('/') || ref.includes('//')) return "it has an empty component ('/' at an end or '//')"
  if (ref.endsWith('.')) return "it ends with '.'"
  for (const component of ref.split('/')) {
    if (component.startsWith('.')) return "a component starts with '.'"
    if (component.endsWith('.lock')) return "a component ends with '.lock'"
  }
  return undefined
}
