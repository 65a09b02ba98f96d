// Text that may hold a URL with credentials (an input's value, git's or a server's output) as it may be shown:
// user info, and whatever follows a '?' or '#' (signed URLs carry credentials there), replaced. Pure.

export function redactValue(value: string): string {
  return value.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@').replace(/(\/\/[^\s?#]*)[?#][^\s'"]*/g, '$1?…')
}
