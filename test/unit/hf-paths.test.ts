// Where the Hugging Face cache and token are, as huggingface_hub (constants.py) and llama.cpp (common/hf-cache.cpp)
// find them.
import { describe, expect, it } from 'vitest'
import { hfCacheLocation, hfHome, hfTokenPath, hubCacheDir } from '../../src/model/hf-paths.js'

const home = '/home/runner'

describe('the Hugging Face cache', () => {
  it.each([
    [{}, '/home/runner/.cache/huggingface/hub'],
    [{ XDG_CACHE_HOME: '/xdg' }, '/xdg/huggingface/hub'],
    [{ XDG_CACHE_HOME: '/xdg', HF_HOME: '/hf' }, '/hf/hub'],
    [{ HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy' }, '/legacy'],
    [{ HF_HOME: '/hf', HUGGINGFACE_HUB_CACHE: '/legacy', HF_HUB_CACHE: '/cache' }, '/cache'],
    [{ HF_HUB_CACHE: '' , HF_HOME: '~/hf' }, '/home/runner/hf/hub'],
  ])('%j: %s', (env, expected) => {
    expect(hubCacheDir(env, home)).toBe(expected)
    expect(hfCacheLocation(env, home)).toEqual({ root: expected, alsoLookIn: [] })
  })

  it("LLAMA_CACHE comes first, as llama.cpp reads it; huggingface_hub's cache is then searched too", () => {
    expect(hfCacheLocation({ LLAMA_CACHE: '/llama', HF_HOME: '/hf' }, home)).toEqual({ root: '/llama', alsoLookIn: ['/hf/hub'] })
    expect(hfCacheLocation({ LLAMA_CACHE: '/hf/hub', HF_HOME: '/hf' }, home)).toEqual({ root: '/hf/hub', alsoLookIn: [] })
  })
})

describe('the token file', () => {
  it('is HF_TOKEN_PATH, else HF_HOME/token', () => {
    expect(hfTokenPath({}, home)).toBe('/home/runner/.cache/huggingface/token')
    expect(hfTokenPath({ HF_HOME: '/hf' }, home)).toBe('/hf/token')
    expect(hfTokenPath({ HF_HOME: '/hf', HF_TOKEN_PATH: '/secrets/hf' }, home)).toBe('/secrets/hf')
    expect(hfHome({ XDG_CACHE_HOME: '/xdg' }, home)).toBe('/xdg/huggingface')
  })
})
