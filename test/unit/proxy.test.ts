import { describe, expect, it } from 'vitest'
import { secretsIn } from '../../src/inputs.js'
import { NetworkError } from '../../src/http/client.js'
import { bypassesProxy, isLoopback, proxyFor, proxyUrls, proxyVariable, type ProxyEnv } from '../../src/http/proxy.js'

describe('proxyFor: which proxy a request goes through, as runners set the variables', () => {
  const both: ProxyEnv = { HTTP_PROXY: 'http://plain:3128', HTTPS_PROXY: 'http://tls:3128' }
  it.each<[string, string, ProxyEnv, string | undefined]>([
    ['http goes through HTTP_PROXY', 'http://models.example/m.gguf', both, 'http://plain:3128'],
    ['https goes through HTTPS_PROXY', 'https://huggingface.co/x', both, 'http://tls:3128'],
    ['https without HTTPS_PROXY goes direct, not through HTTP_PROXY', 'https://huggingface.co/x', { HTTP_PROXY: 'http://plain:3128' }, undefined],
    ['lower case is read first, as curl does', 'http://models.example/', { http_proxy: 'http://lower:1', HTTP_PROXY: 'http://upper:2' }, 'http://lower:1'],
    ['an empty or blank variable is no proxy', 'http://models.example/', { HTTP_PROXY: '  ' }, undefined],
    ['loopback by name is direct', 'http://localhost:8080/health', both, undefined],
    ['a name under .localhost is direct', 'http://api.localhost:8080/', both, undefined],
    ['loopback IPv4 is direct, all of 127/8', 'http://127.3.2.1:8080/', both, undefined],
    ['loopback IPv6 is direct', 'http://[::1]:8080/', both, undefined],
    ['an IPv4-mapped loopback is direct', 'http://[::ffff:127.0.0.1]:8080/', both, undefined],
    ['another address of this machine is not loopback', 'http://192.0.2.2:8080/', both, 'http://plain:3128'],
    ['NO_PROXY by exact name', 'http://models.example/', { ...both, NO_PROXY: 'models.example' }, undefined],
    ['no_proxy in lower case', 'http://models.example/', { ...both, no_proxy: 'models.example' }, undefined],
    ['NO_PROXY by domain suffix with a dot', 'https://cdn.models.example/', { ...both, NO_PROXY: '.models.example' }, undefined],
    ['NO_PROXY by domain suffix with *.', 'https://cdn.models.example/', { ...both, NO_PROXY: '*.models.example' }, undefined],
    ['NO_PROXY by domain without a dot covers subdomains', 'https://cdn.models.example/', { ...both, NO_PROXY: 'models.example' }, undefined],
    ['NO_PROXY does not match a longer name', 'http://badmodels.example/', { ...both, NO_PROXY: 'models.example' }, 'http://plain:3128'],
    ['NO_PROXY * matches every host', 'http://anything.example/', { ...both, NO_PROXY: '*' }, undefined],
    ['NO_PROXY with the right port', 'http://models.example:8080/', { ...both, NO_PROXY: 'models.example:8080' }, undefined],
    ['NO_PROXY with another port does not match', 'http://models.example:8081/', { ...both, NO_PROXY: 'models.example:8080' }, 'http://plain:3128'],
    ['NO_PROXY port of a default port', 'https://models.example/', { ...both, NO_PROXY: 'models.example:443' }, undefined],
    ['NO_PROXY lists, with spaces and commas', 'http://b.example/', { ...both, NO_PROXY: 'a.example, b.example ,c.example' }, undefined],
    ['NO_PROXY of an IPv4 address', 'http://192.0.2.2:8080/', { ...both, NO_PROXY: '192.0.2.2' }, undefined],
    ['NO_PROXY of an IPv6 address in brackets', 'http://[2001:db8::1]:8080/', { ...both, NO_PROXY: '[2001:db8::1]' }, undefined],
    ['NO_PROXY matches case-insensitively', 'http://Models.Example/', { ...both, NO_PROXY: 'MODELS.example' }, undefined],
  ])('%s', (_what, url, env, proxy) => {
    expect(proxyFor(new URL(url), env)).toBe(proxy)
  })

  it('bypassesProxy with nothing set bypasses nothing', () => {
    expect(bypassesProxy(new URL('http://models.example/'), undefined)).toBe(false)
    expect(bypassesProxy(new URL('http://models.example/'), ', ,')).toBe(false)
  })

  it.each([
    ['localhost', true],
    ['LOCALHOST', true],
    ['127.0.0.1', true],
    ['[::1]', true],
    ['0.0.0.0', false],
    ['10.0.0.1', false],
    ['localhost.example', false],
  ])('isLoopback(%s) is %s', (host, loopback) => expect(isLoopback(host)).toBe(loopback))
})

describe('proxyUrls: what gets masked', () => {
  it('a proxy without a scheme is an http:// proxy, as curl and git take it, and its credentials are masked', () => {
    expect(proxyUrls({ HTTPS_PROXY: 'user:pw-SECRET@proxy.corp:3128' })).toEqual(['http://user:pw-SECRET@proxy.corp:3128'])
    expect(secretsIn({}, { HTTPS_PROXY: 'user:pw-SECRET@proxy.corp:3128' })).toContain('pw-SECRET')
    expect(proxyFor(new URL('https://huggingface.co/x'), { https_proxy: 'proxy.corp:3128' })).toBe('http://proxy.corp:3128')
  })

  it('lists both variables, lower case first', () => {
    expect(proxyUrls({ http_proxy: 'http://u:p@a:1', HTTP_PROXY: 'http://b:2', HTTPS_PROXY: 'http://u:q@c:3' })).toEqual(['http://u:p@a:1', 'http://u:q@c:3'])
    expect(proxyUrls({})).toEqual([])
  })
})

describe('a proxy that refuses the credentials', () => {
  it('is told apart from a network fault, only when a proxy was used', () => {
    expect(new NetworkError('UND_ERR_INVALID_ARG: Proxy Authentication Required (407)', 'UND_ERR_INVALID_ARG', 'http://u:p@proxy:3128').proxyRefusedCredentials).toBe(true)
    expect(new NetworkError('UND_ERR_ABORTED: Proxy response (407) !== 200 when HTTP Tunneling', 'UND_ERR_ABORTED', 'http://proxy:3128').proxyRefusedCredentials).toBe(true)
    expect(new NetworkError('UND_ERR_ABORTED: Proxy response (502) !== 200 when HTTP Tunneling', 'UND_ERR_ABORTED', 'http://proxy:3128').proxyRefusedCredentials).toBe(false)
    expect(new NetworkError('ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:4070', 'ECONNREFUSED').proxyRefusedCredentials).toBe(false)
  })

  it('names the variable that holds them', () => {
    expect(proxyVariable(new URL('https://huggingface.co/'))).toBe('HTTPS_PROXY (or https_proxy)')
    expect(proxyVariable(new URL('http://mirror.example/'))).toBe('HTTP_PROXY (or http_proxy)')
  })
})
