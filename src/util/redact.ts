// Text that may hold a URL with credentials (an input's value, git's or a server's output) as it may be shown:
// user info, and whatever follows a '?' or '#' (signed URLs carry credentials there), replaced. Pure.

export function redactValue(value: string): string {
  // User info runs to the last '@' before the host: a password may hold '@' itself.
  return value.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s]*@/gi, '$1***@').replace(/(\/\/[^\s?#]*)[?#][^\s'"]*/g, '$1?…')
}

/**
 * Text from outside (a server, git, a file name) as part of one log line: control characters, which the runner
 * would read as line breaks ('\r' too) and so as the start of a workflow command, become spaces.
 */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ')
}
