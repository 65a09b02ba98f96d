// Which release of the commit has an archive for this runner: the tags that point at the commit (from git, no API
// quota; build tags first, five at most), each tag's release and its assets (asked once per run, whichever backend
// is looked for), and the first archive that fits. Also what GitHub says of an archive's build provenance.
import * as core from '@actions/core'
import { errorMessage } from '../../errors.js'
import { apiGet, apiList, ReleaseApiError } from './api.js'
import { chooseAsset, parseAssets, ReleaseSchema, type ChosenAsset, type ReleaseAsset, type Runner } from './asset.js'
import type { ReleaseHost } from './github.js'
import { tagsAt } from './tags.js'

/** Why no release archive is used; `level` is how loudly auto says it before it builds. */
export class NoReleaseError extends Error {
  override name = 'NoReleaseError'
  constructor(
    message: string,
    readonly level: 'info' | 'notice' | 'warning' = 'info',
  ) {
    super(message)
  }
}

/** The most tags of one commit whose releases are asked for. */
const MAX_TAGS = 5

export class ReleaseLookup {
  private tags: Promise<string[]> | undefined
  /** Each tag's assets, or undefined where the tag has no release. */
  private readonly releases = new Map<string, Promise<ReleaseAsset[] | undefined>>()

  constructor(
    private readonly host: ReleaseHost,
    private readonly git: string,
    private readonly repo: string,
    private readonly commit: string,
    private readonly timeoutMs: number,
  ) {}

  /** `owner/repo`, as the log names it. */
  get name(): string {
    return `${this.host.owner}/${this.host.repo}`
  }

  private get repoApi(): string {
    return `${this.host.api}/repos/${encodeURIComponent(this.host.owner)}/${encodeURIComponent(this.host.repo)}`
  }

  /** The first release among the tags at the commit (build tags first) that has an archive for `runner`. */
  async find(runner: Runner): Promise<ChosenAsset & { tag: string }> {
    this.tags ??= tagsAt(this.git, this.repo, this.commit)
    const all = await this.tags
    if (!all.length) throw new NoReleaseError(`no tag of ${this.name} points at commit ${this.commit}, so it has no release`)
    // Each tag costs API requests: a commit that many tags point at (a hostile or odd repository) is not asked about
    // all of them. Build tags come first, and llama.cpp gives a commit one.
    const tags = all.slice(0, MAX_TAGS)
    const problems: string[] = []
    for (const tag of tags) {
      const assets = await this.assets(tag)
      if (!assets) {
        problems.push(`tag ${tag} has no release`)
        continue
      }
      const choice = chooseAsset(assets, tag, runner)
      if ('asset' in choice) return { tag, ...choice }
      problems.push(choice.problem)
    }
    if (all.length > tags.length) problems.push(`${all.length - tags.length} more tags point at it, which were not asked (at most ${MAX_TAGS} are)`)
    throw new NoReleaseError(`no release of commit ${this.commit} has an archive for this runner (Linux ${runner.arch}, ${runner.backend}): ${problems.join('; ')}`)
  }

  private async assets(tag: string): Promise<ReleaseAsset[] | undefined> {
    let assets = this.releases.get(tag)
    if (!assets) {
      assets = this.ask(tag)
      // A failure (a rate limit, say) is asked again when the caller waits and tries again.
      assets.catch(() => this.releases.delete(tag))
      this.releases.set(tag, assets)
    }
    return await assets
  }

  private async ask(tag: string): Promise<ReleaseAsset[] | undefined> {
    const answer = await apiGet(this.host, `${this.repoApi}/releases/tags/${encodeURIComponent(tag)}`, this.timeoutMs)
    if (answer.status === 404) return undefined
    const release = ReleaseSchema.safeParse(answer.json)
    if (!release.success || release.data.tag_name !== tag) throw new ReleaseApiError(`the release of tag ${tag} is not what GitHub's API answers for a release`)
    return parseAssets(await apiList(this.host, `${this.repoApi}/releases/${release.data.id}/assets?per_page=100`, this.timeoutMs))
  }

  /** Says whether an archive's build provenance was verified: it never is here (no Sigstore trust root is fetched). */
  async provenanceNote(asset: string, digest: string): Promise<void> {
    const repo = this.name
    let count: number
    try {
      const answer = await apiGet(this.host, `${this.repoApi}/attestations/${digest}`, this.timeoutMs)
      const list = (answer.json as { attestations?: unknown } | undefined)?.attestations
      count = Array.isArray(list) ? list.length : 0
    } catch (error) {
      core.info(`Build provenance of ${asset}: not verified; GitHub's attestations API could not be asked (${errorMessage(error)}). The archive is trusted by its sha256 digest alone.`)
      return
    }
    if (count === 0) {
      core.info(`Build provenance of ${asset}: ${repo} published no attestation for this archive, so none was verified; it is trusted by its sha256 digest alone.`)
    } else {
      core.info(
        `Build provenance of ${asset}: ${count} attestation(s) for this archive exist but were not verified: that needs Sigstore's trust root, which this action does not fetch. ` +
          `It is trusted by its sha256 digest alone; to check the attestations: gh attestation verify <archive> --repo ${repo}`,
      )
    }
  }
}
