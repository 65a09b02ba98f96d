import { describe, expect, it } from 'vitest'
import { modelId, parseModelRef } from '../../src/model/ref.js'
import { Invalid } from '../../src/util/invalid.js'

const ws = '/work/space'

describe('parseModelRef accepts every form of the grammar', () => {
  it.each([
    ['hf:org/repo/model.gguf', { kind: 'hf', owner: 'org', repo: 'repo', revision: 'main', file: 'model.gguf' }],
    ['hf:org/repo@v1.0/sub/dir/m-Q4_K_M.gguf', { kind: 'hf', owner: 'org', repo: 'repo', revision: 'v1.0', file: 'sub/dir/m-Q4_K_M.gguf' }],
    ['hf:TheBloke/Llama-2.7B_x@0123456789abcdef0123456789abcdef01234567/m.GGUF', { kind: 'hf', owner: 'TheBloke', repo: 'Llama-2.7B_x', revision: '0123456789abcdef0123456789abcdef01234567', file: 'm.GGUF' }],
    ['hf:org/repo@refs%2Fpr%2F1/m.gguf', { kind: 'hf', owner: 'org', repo: 'repo', revision: 'refs/pr/1', file: 'm.gguf' }],
    ['hf:org/repo/big-00001-of-00003.gguf', { kind: 'hf', owner: 'org', repo: 'repo', revision: 'main', file: 'big-00001-of-00003.gguf', split: { part: 1, total: 3 } }],
    ['https://example.com/models/m.gguf?download=1', { kind: 'url', url: 'https://example.com/models/m.gguf?download=1' }],
    ['http://127.0.0.1:8080/m.gguf', { kind: 'url', url: 'http://127.0.0.1:8080/m.gguf' }],
    ['file:models/m.gguf', { kind: 'file', path: '/work/space/models/m.gguf' }],
    ['file:/abs/m.gguf', { kind: 'file', path: '/abs/m.gguf' }],
    ['file:///abs/with%20space.gguf', { kind: 'file', path: '/abs/with space.gguf' }],
    ['/abs/m.gguf', { kind: 'file', path: '/abs/m.gguf' }],
    ['rel/m.gguf', { kind: 'file', path: '/work/space/rel/m.gguf' }],
    ['  ./m.gguf  ', { kind: 'file', path: '/work/space/m.gguf' }],
    ['/abs/x-00001-of-00002.gguf', { kind: 'file', path: '/abs/x-00001-of-00002.gguf', split: { part: 1, total: 2 } }],
  ])('%s', (input, expected) => {
    expect(parseModelRef(input, ws)).toEqual(expected)
  })
})

describe('parseModelRef rejects malformed references, saying what it expected', () => {
  it.each([
    ['', /a model reference/],
    ['hf:org', /owner, repo and a file path/],
    ['hf:org/repo', /owner, repo and a file path/],
    ['hf:org/repo/', /file path whose parts are not empty/],
    ['hf:org/repo/a//b.gguf', /file path whose parts are not empty/],
    ['hf:org/repo/../secret.gguf', /'\.\.'/],
    ['hf:org/repo/sub/../../x.gguf', /'\.\.'/],
    ['hf:org/repo/./x.gguf', /'\.'/],
    ['hf:org/repo/model.bin', /naming a \.gguf file/],
    ['hf:/repo/m.gguf', /owner is 1-96/],
    ['hf:org/re po/m.gguf', /repo is 1-96/],
    ['hf:org/re--po/m.gguf', /without '--'/],
    ['hf:org/repo@/m.gguf', /revision .* it is empty/],
    ['hf:org/repo@-x/m.gguf', /revision .* starts with '-'/],
    ['hf:org/repo@a..b/m.gguf', /revision .* '\.\.'/],
    ['hf:org/repo@a b/m.gguf', /revision .* space/],
    ['hf:org/repo@a~1/m.gguf', /revision .* '~'/],
    ['hf:org/repo@x.lock/m.gguf', /revision .* '\.lock'/],
    ['hf:org/repo@%ZZ/m.gguf', /percent-encoded/],
    ['hf:org/repo/m-00002-of-00003.gguf', /first part of a split GGUF/],
    ['hf:org/repo/m-00004-of-00003.gguf', /1 <= K <= N/],
    ['https://user:pw@example.com/m.gguf', /without user name or password/],
    ['s3://bucket/m.gguf', /'s3:' is not one/],
    ['file:', /file:<path> with a path/],
    ['file://otherhost/m.gguf', /on this machine/],
  ])('%j', (input, message) => {
    let error: unknown
    try {
      parseModelRef(input, ws)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(Invalid)
    expect((error as Invalid).expected).toMatch(message)
  })
})

describe('modelId', () => {
  it('puts the resolved commit into an hf id', () => {
    const ref = parseModelRef('hf:org/repo@main/m.gguf', ws)
    expect(modelId(ref, 'abc123')).toBe('hf:org/repo@abc123/m.gguf')
  })
  it('names a local file by its absolute path', () => {
    expect(modelId(parseModelRef('m.gguf', ws))).toBe('file:/work/space/m.gguf')
  })
})
