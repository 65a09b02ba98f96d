/** Thrown by pure parsers: `expected` says what a valid value looks like; the input parser adds name and value. */
export class Invalid extends Error {
  constructor(readonly expected: string) {
    super(expected)
    this.name = 'Invalid'
  }
}

/** A URL, or Invalid with what was expected. */
export function parseUrl(value: string, expected: string): URL {
  const url = URL.parse(value)
  if (!url) throw new Invalid(expected)
  return url
}
