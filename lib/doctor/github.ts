/**
 * `sdpipe doctor`'s GitHub checks (issue 19): through GitHub's REST API, with a token, whether the
 * GitHub side of an environment's pipeline is set up: the repository and its owner's plan, the
 * GitHub environments the pipeline's jobs run in, whether the manual approval's required reviewers
 * are really enforced (plan and visibility), and whether only the environment's branch may deploy.
 *
 * Read-only: every request is a GET. Requests go through Node's global `fetch` (or the one passed
 * in), each with `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28` and the
 * token as `Authorization: Bearer` ("Getting started with the REST API", headers and API version:
 * https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api?apiVersion=2022-11-28#headers
 * and https://docs.github.com/en/rest/about-the-rest-api/api-versions?apiVersion=2022-11-28).
 * The token appears in no result, message or log line.
 *
 * Node's global fetch does not read HTTPS_PROXY (Node 20); a caller behind a proxy passes a `fetch`
 * that routes through one.
 */
import { approvalEnvironmentName, prepareEnvironmentName } from '../contracts/pipeline-names';
import type { ResolvedEnvironment } from '../config/resolve';
import { SdpipeError } from '../errors';
import { runCheck } from './check';
import type { CheckResult, DoctorContext } from './check';

/** Ids of the GitHub checks, in the order {@link githubChecks} returns them. */
export const GITHUB_CHECK_IDS = ['github.repository', 'github.environments', 'github.reviewers', 'github.branch-policy'] as const;

/** Id of one GitHub check. */
export type GitHubCheckId = (typeof GITHUB_CHECK_IDS)[number];

/** Title of each GitHub check. */
export const GITHUB_CHECK_TITLES: Readonly<Record<GitHubCheckId, string>> = {
  'github.repository': 'GitHub repository, visibility and plan',
  'github.environments': 'GitHub environments of the pipeline exist',
  'github.reviewers': 'Required reviewers are enforced',
  'github.branch-policy': 'Only the environment branch deploys',
};

/** The fix of every check when there is no token or no repository. */
export const GITHUB_SKIP_FIX =
  "set GITHUB_TOKEN (a token with read access to the repository's administration/environments) and GITHUB_REPOSITORY=owner/repo";

/** GitHub.com's REST API; GitHub Enterprise Server is `https://HOSTNAME/api/v3` (set GITHUB_API_URL). */
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

/** The REST API version every request asks for. */
export const GITHUB_API_VERSION = '2022-11-28';

/** Options of {@link githubChecks}; each defaults to the context's environment variables. */
export interface GitHubCheckOptions {
  /** API token. @default - ctx.env.GITHUB_TOKEN, else ctx.env.GH_TOKEN */
  readonly token?: string;
  /** `owner/repo`. @default - ctx.env.GITHUB_REPOSITORY */
  readonly repository?: string;
  /** REST API root. @default - ctx.env.GITHUB_API_URL, else https://api.github.com */
  readonly apiUrl?: string;
  /** The fetch to use (a proxying one, a test's). @default - Node's global fetch */
  readonly fetch?: typeof fetch;
}

/** Why an environment of the pipeline exists. */
export type PipelineGitHubEnvironmentRole = 'prepare' | 'deploy';

/** The GitHub environments an sdpipe environment's pipeline runs jobs in. */
export interface PipelineGitHubEnvironments {
  /** Each GitHub environment, with its role; empty when the pipeline uses none. */
  readonly environments: readonly { readonly name: string; readonly role: PipelineGitHubEnvironmentRole }[];
  /** The environment the deploy job runs in (the approval environment), when there is one. */
  readonly deploy?: string;
  /** Where the names come from, for `measured` when the list is empty. */
  readonly why: string;
}

/**
 * The GitHub environments the pipeline of `config` runs jobs in: the names of
 * lib/contracts/pipeline-names.ts (`approvalEnvironmentName`, `prepareEnvironmentName`), which the
 * pipeline uses too; test/unit/doctor/github.test.ts also checks the environment of
 * `.github/workflows/deploy.yml`'s `codepipeline` job.
 *
 * - github-actions engine: the generated `deploy-<env>.yml` (pipeline/github/github-workflow.ts)
 *   runs Synth, Validate, Mirror, Build, Models, Snapshot and asset publishing in `<env>-prepare`
 *   and Deploy in `<env>`.
 * - codepipeline engine, s3 source: `deploy.yml`'s `codepipeline` job (it uploads the source) runs in
 *   `${{ needs.resolve.outputs.environment }}`, the sdpipe environment's name.
 * - codepipeline engine, codeconnections source: the pipeline starts on the push by itself; no job
 *   runs in a GitHub environment.
 */
export function pipelineGitHubEnvironments(config: ResolvedEnvironment): PipelineGitHubEnvironments {
  const env = config.environment.name;
  if (config.pipeline.engine === 'github-actions') {
    return {
      environments: [
        { name: prepareEnvironmentName(env), role: 'prepare' },
        { name: approvalEnvironmentName(env), role: 'deploy' },
      ],
      deploy: approvalEnvironmentName(env),
      why: `the github-actions engine's workflow .github/workflows/deploy-${env}.yml`,
    };
  }
  if (config.pipeline.source.type === 's3') {
    return { environments: [{ name: env, role: 'deploy' }], deploy: env, why: ".github/workflows/deploy.yml's codepipeline job (s3 source)" };
  }
  return { environments: [], why: 'the codepipeline engine with a codeconnections source starts on the push by itself and runs no job in a GitHub environment' };
}

/** A GitHub API answer other than 2xx, with GitHub's own message. */
export class GitHubApiError extends SdpipeError {
  /** HTTP status. */
  readonly status: number;
  /** The request path (`/repos/o/r`). */
  readonly path: string;

  constructor(status: number, path: string, githubMessage: string | undefined, hint: string) {
    super(`GET ${path} answered HTTP ${status}${githubMessage ? `: ${githubMessage}` : ''}`, { hint });
    this.name = 'GitHubApiError';
    this.status = status;
    this.path = path;
  }
}

/**
 * The hint of a failed request, by status. The endpoints' pages list the fine-grained token permission
 * "Actions" repository permissions (read) for the environment and branch-policy endpoints
 * (https://docs.github.com/en/rest/deployments/branch-policies?apiVersion=2022-11-28#list-deployment-branch-policies)
 * and Metadata (read) for "Get a repository"; classic tokens need `repo` for a private repository.
 * GitHub answers 404 rather than 403 for a private resource the token cannot see ("Troubleshooting
 * the REST API", 404 Not Found for an existing resource:
 * https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api?apiVersion=2022-11-28).
 */
function hintOf(status: number, repository: string): string {
  if (status === 401) return 'the token was refused (expired or mistyped): create a new one and set GITHUB_TOKEN';
  if (status === 403 || status === 429) {
    return `the token may not read this, or the rate limit is used up: give the token read access to ${repository} (classic: scope repo; fine-grained: Metadata and Actions read), or wait for the rate limit to reset`;
  }
  if (status === 404) return `check GITHUB_REPOSITORY=${repository} and that the token can read that repository (GitHub answers 404 for a repository the token cannot see)`;
  return 'retry; if it persists, check https://www.githubstatus.com';
}

/** A GET that answered: status, body (parsed JSON, or undefined), headers. */
interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

/**
 * The REST client of one doctor run: GETs under the API root with the required headers, a timeout
 * per request, and a memo so that checks sharing a resource ask once.
 */
class GitHubReader {
  private readonly memo = new Map<string, Promise<Answer>>();

  constructor(
    private readonly apiUrl: string,
    private readonly token: string,
    private readonly repository: string,
    private readonly fetchImpl: typeof fetch,
    private readonly timeoutMs: number,
    private readonly log: (line: string) => void,
  ) {}

  /** GET `path`; any status comes back (the caller decides what 404 means). Network errors throw. */
  get(path: string): Promise<Answer> {
    let p = this.memo.get(path);
    if (!p) {
      p = this.fetchOnce(path);
      this.memo.set(path, p);
    }
    return p;
  }

  /** GET `path` and demand a 2xx. */
  async json(path: string): Promise<unknown> {
    const a = await this.get(path);
    if (a.status < 200 || a.status > 299) throw this.error(a, path);
    return a.body;
  }

  /** The error of a non-2xx answer. */
  error(a: Answer, path: string): GitHubApiError {
    // GitHub's error body is `{ message, documentation_url }` ("Troubleshooting the REST API":
    // https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api?apiVersion=2022-11-28).
    const message = isRecord(a.body) && typeof a.body.message === 'string' ? a.body.message : undefined;
    return new GitHubApiError(a.status, path, message, hintOf(a.status, this.repository));
  }

  private async fetchOnce(path: string): Promise<Answer> {
    this.log(`github: GET ${path}`);
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.apiUrl}${path}`, {
        method: 'GET',
        headers: {
          Accept: 'application/vnd.github+json',
          'X-GitHub-Api-Version': GITHUB_API_VERSION,
          Authorization: `Bearer ${this.token}`,
          // Every request must carry a User-Agent ("Getting started with the REST API", User-Agent:
          // https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api?apiVersion=2022-11-28#user-agent).
          'User-Agent': 'sdpipe-doctor',
        },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
      throw new SdpipeError(timedOut ? `GET ${this.apiUrl}${path} took longer than ${this.timeoutMs} ms` : `GET ${this.apiUrl}${path} failed: ${cause}`, {
        hint: `check that this machine reaches ${this.apiUrl} (GITHUB_API_URL; behind a proxy, run doctor where the API is reachable)`,
      });
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body, headers: res.headers };
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** What decides whether required reviewers work in a private repository. */
type PlanTier = 'enterprise' | 'no-private-rules' | 'unknown';

/** The repository, its visibility and its owner's plan. */
interface RepositoryFacts {
  readonly fullName: string;
  readonly visibility: 'public' | 'private' | 'internal';
  readonly ownerLogin: string;
  readonly ownerType: 'User' | 'Organization';
  /** The plan's name as GitHub says it (`free`, `pro`, `team`, `enterprise`), or a description. */
  readonly plan?: string;
  /** Why the plan is unknown. */
  readonly planUnknownBecause?: string;
  readonly tier: PlanTier;
}

/**
 * Plans by whether they enforce deployment protection rules other than branches (required
 * reviewers, wait timers) in private and internal repositories: "If you are on a GitHub Free,
 * GitHub Pro, or GitHub Team plan, other deployment protection rules, such as a wait timer or
 * required reviewers, are only available for public repositories" ("Managing environments for
 * deployment", availability note:
 * https://docs.github.com/en/actions/how-tos/deploy/configure-and-manage-deployments/manage-environments,
 * and "Deployments and environments", Required reviewers:
 * https://docs.github.com/en/actions/reference/workflows-and-actions/deployments-and-environments#required-reviewers).
 * The values of `plan.name` (`free`, `pro`, `team`, `enterprise`) are an assumption from observed
 * answers (e.g. https://github.com/microsoft/PowerShellForGitHub/issues/373 shows `enterprise` and
 * `free`); the REST docs show only an example name. Any other name (legacy plans) is unknown.
 */
function tierOf(plan: string): PlanTier {
  const p = plan.toLowerCase();
  if (p === 'enterprise') return 'enterprise';
  if (p === 'free' || p === 'pro' || p === 'team') return 'no-private-rules';
  return 'unknown';
}

/** The owner's plan: `GET /orgs/{org}` or `GET /users/{user}`, `plan.name` when shown. */
async function planOf(gh: GitHubReader, ownerType: 'User' | 'Organization', login: string): Promise<{ plan?: string; unknownBecause?: string }> {
  // GET /orgs/{org} shows `plan` only with the full details: "To see the full details about an
  // organization, the authenticated user must be an organization owner", classic tokens need
  // `admin:org`, GitHub Apps the `Organization plan` permission ("Get an organization":
  // https://docs.github.com/en/rest/orgs/orgs?apiVersion=2022-11-28#get-an-organization).
  // GET /users/{username}: `plan` is an optional property of the response (public-user schema),
  // shown to the account itself (https://docs.github.com/en/rest/users/users?apiVersion=2022-11-28#get-a-user).
  const path = ownerType === 'Organization' ? `/orgs/${encodeURIComponent(login)}` : `/users/${encodeURIComponent(login)}`;
  const a = await gh.get(path);
  if (a.status < 200 || a.status > 299) {
    const message = isRecord(a.body) && typeof a.body.message === 'string' ? `: ${a.body.message}` : '';
    return { unknownBecause: `GET ${path} answered HTTP ${a.status}${message}` };
  }
  const plan = isRecord(a.body) && isRecord(a.body.plan) ? str(a.body.plan.name) : undefined;
  if (plan) return { plan };
  return {
    unknownBecause:
      ownerType === 'Organization'
        ? `GET ${path} shows no plan: only an owner of ${login} sees it`
        : `GET ${path} shows no plan: only ${login} sees it`,
  };
}

/** GET /repos/{owner}/{repo}, then the owner's plan. */
async function repositoryFacts(gh: GitHubReader, repository: string): Promise<RepositoryFacts> {
  // "Get a repository": `full_name`, `visibility` (public, private, internal), `private`, `owner.login`,
  // `owner.type` (User, Organization): https://docs.github.com/en/rest/repos/repos?apiVersion=2022-11-28#get-a-repository
  const path = `/repos/${repository}`;
  const a = await gh.get(path);
  if (a.status < 200 || a.status > 299) throw gh.error(a, path);
  const body = isRecord(a.body) ? a.body : {};
  const owner = isRecord(body.owner) ? body.owner : {};
  const vis = str(body.visibility) ?? (body.private === true ? 'private' : body.private === false ? 'public' : undefined);
  if (vis !== 'public' && vis !== 'private' && vis !== 'internal') {
    throw new SdpipeError(`GET ${path} answered without a visibility (visibility: ${JSON.stringify(body.visibility)}, private: ${JSON.stringify(body.private)})`, {
      hint: 'check that GITHUB_API_URL is a GitHub REST API root (https://api.github.com, or https://HOSTNAME/api/v3)',
    });
  }
  const ownerLogin = str(owner.login) ?? repository.split('/')[0];
  const ownerType = owner.type === 'Organization' ? 'Organization' : 'User';
  const fullName = str(body.full_name) ?? repository;
  // GitHub Enterprise Server names its version in the header X-GitHub-Enterprise-Version of every
  // REST answer ("Version information": https://docs.github.com/en/enterprise-server@3.10/rest/enterprise-admin#version-information);
  // a server is GitHub Enterprise, whatever the owner.
  const ghes = a.headers.get('x-github-enterprise-version');
  if (ghes) return { fullName, visibility: vis, ownerLogin, ownerType, plan: `GitHub Enterprise Server ${ghes}`, tier: 'enterprise' };
  const { plan, unknownBecause } = await planOf(gh, ownerType, ownerLogin);
  // Internal repositories exist only in organizations of an enterprise account ("About repositories",
  // https://docs.github.com/en/repositories/creating-and-managing-repositories/about-repositories#about-internal-repositories).
  const tier: PlanTier = vis === 'internal' ? 'enterprise' : plan ? tierOf(plan) : 'unknown';
  return { fullName, visibility: vis, ownerLogin, ownerType, plan, planUnknownBecause: unknownBecause, tier };
}

/** One protection rule of an environment, as far as the checks read it. */
interface Reviewer {
  readonly type: string;
  readonly name: string;
}

/** An environment as the checks read it, or absent. */
interface EnvironmentFacts {
  readonly name: string;
  readonly exists: boolean;
  /** Reviewers of the `required_reviewers` rule; undefined without such a rule. */
  readonly reviewers?: readonly Reviewer[];
  /** `deployment_branch_policy`; null when any branch may deploy. */
  readonly branchPolicy: { readonly protectedBranches: boolean; readonly customBranchPolicies: boolean } | null;
}

/** GET /repos/{o}/{r}/environments/{name}; 404 is "does not exist". */
async function environmentFacts(gh: GitHubReader, repository: string, name: string): Promise<EnvironmentFacts> {
  // "Get an environment": `protection_rules[]` (`type`: required_reviewers, wait_timer, branch_policy;
  // a required_reviewers rule has `reviewers[]` of `{ type: User|Team, reviewer }`) and
  // `deployment_branch_policy` (`{ protected_branches, custom_branch_policies }`, or null when any
  // branch may deploy). The name must be URL-encoded. 404 when there is no such environment.
  // https://docs.github.com/en/rest/deployments/environments?apiVersion=2022-11-28#get-an-environment
  const path = `/repos/${repository}/environments/${encodeURIComponent(name)}`;
  const a = await gh.get(path);
  if (a.status === 404) return { name, exists: false, branchPolicy: null };
  if (a.status < 200 || a.status > 299) throw gh.error(a, path);
  const body = isRecord(a.body) ? a.body : {};
  const rules = Array.isArray(body.protection_rules) ? body.protection_rules.filter(isRecord) : [];
  const rr = rules.find((r) => r.type === 'required_reviewers');
  const reviewers = rr
    ? (Array.isArray(rr.reviewers) ? rr.reviewers.filter(isRecord) : []).map((r) => {
        const who = isRecord(r.reviewer) ? r.reviewer : {};
        return { type: str(r.type) ?? 'User', name: str(who.login) ?? str(who.slug) ?? str(who.name) ?? `id ${String(who.id)}` };
      })
    : undefined;
  const dbp = isRecord(body.deployment_branch_policy) ? body.deployment_branch_policy : null;
  return {
    name,
    exists: true,
    reviewers,
    branchPolicy: dbp ? { protectedBranches: dbp.protected_branches === true, customBranchPolicies: dbp.custom_branch_policies === true } : null,
  };
}

/** A custom deployment branch policy. */
interface BranchPolicy {
  readonly name: string;
  readonly type: 'branch' | 'tag';
}

/** Every custom deployment branch policy of an environment. */
async function branchPolicies(gh: GitHubReader, repository: string, name: string): Promise<BranchPolicy[]> {
  // "List deployment branch policies": `{ total_count, branch_policies: [{ id, node_id, name, type }] }`,
  // `type` branch or tag, `per_page` at most 100, `page` from 1.
  // https://docs.github.com/en/rest/deployments/branch-policies?apiVersion=2022-11-28#list-deployment-branch-policies
  const out: BranchPolicy[] = [];
  for (let page = 1; page <= 10; page++) {
    const body = await gh.json(`/repos/${repository}/environments/${encodeURIComponent(name)}/deployment-branch-policies?per_page=100&page=${page}`);
    const list = isRecord(body) && Array.isArray(body.branch_policies) ? body.branch_policies.filter(isRecord) : [];
    for (const p of list) out.push({ name: str(p.name) ?? '', type: p.type === 'tag' ? 'tag' : 'branch' });
    const total = isRecord(body) && typeof body.total_count === 'number' ? body.total_count : out.length;
    if (list.length === 0 || out.length >= total) break;
  }
  return out;
}

/**
 * `gh api` commands that set an environment up as sdpipe needs it: created (or updated) with its
 * deployment branches restricted to custom policies, `reviewers` when it is the manual gate, then
 * the policy `branch`. PUT is "Create or update an environment" (`reviewers[]` of `{ type, id }`,
 * `prevent_self_review`, `deployment_branch_policy`:
 * https://docs.github.com/en/rest/deployments/environments?apiVersion=2022-11-28#create-or-update-an-environment);
 * POST is "Create a deployment branch policy" (`name`, `type` branch|tag:
 * https://docs.github.com/en/rest/deployments/branch-policies?apiVersion=2022-11-28#create-a-deployment-branch-policy).
 */
export function environmentSetupCommand(repository: string, name: string, branch: string, withReviewers: boolean): string {
  const env = `repos/${repository}/environments/${encodeURIComponent(name)}`;
  const body = {
    ...(withReviewers ? { reviewers: [{ type: 'User', id: '<user id: gh api users/LOGIN --jq .id>' }], prevent_self_review: true } : {}),
    deployment_branch_policy: { protected_branches: false, custom_branch_policies: true },
  };
  return `gh api -X PUT ${env} --input - <<<'${JSON.stringify(body)}' && gh api -X POST ${env}/deployment-branch-policies -f name=${branch} -f type=branch`;
}

type Outcome = Omit<CheckResult, 'id' | 'group' | 'title' | 'durationMs'>;

/** A failed check whose error says what to do: GitHub's status and a hint. */
function onError(err: unknown): Outcome {
  const message = err instanceof Error ? err.message : String(err);
  const hint = err instanceof SdpipeError && err.hint ? err.hint : 'check GITHUB_TOKEN, GITHUB_REPOSITORY and the network path to the GitHub API, then run sdpipe doctor again';
  return { status: 'fail', measured: `the check could not run: ${message}`, fix: hint };
}

function base(id: GitHubCheckId): Pick<CheckResult, 'id' | 'group' | 'title'> {
  return { id, group: 'github', title: GITHUB_CHECK_TITLES[id] };
}

/** Every check with the same outcome (skips, a bad repository name). */
function all(outcome: Outcome): CheckResult[] {
  return GITHUB_CHECK_IDS.map((id) => ({ ...base(id), ...outcome, durationMs: 0 }));
}

/** What the repository facts say about the plan, for `measured`. */
function planText(r: RepositoryFacts): string {
  return r.plan ? `plan ${r.plan}` : `plan unknown (${r.planUnknownBecause ?? 'not shown'})`;
}

/**
 * The GitHub checks of `ctx.config`, in the order of {@link GITHUB_CHECK_IDS}:
 * `github.repository`, `github.environments`, `github.reviewers`, `github.branch-policy`.
 * Without a token or a repository every check is `skip` with {@link GITHUB_SKIP_FIX}. Never throws:
 * a failing request becomes that check's `fail`.
 */
export async function githubChecks(ctx: DoctorContext, options: GitHubCheckOptions = {}): Promise<CheckResult[]> {
  const token = options.token ?? (ctx.env.GITHUB_TOKEN || ctx.env.GH_TOKEN || undefined);
  const repository = options.repository ?? (ctx.env.GITHUB_REPOSITORY || undefined);
  if (!token || !repository) {
    const missing = [!token ? 'no token (GITHUB_TOKEN or GH_TOKEN)' : undefined, !repository ? 'no repository (GITHUB_REPOSITORY)' : undefined].filter(Boolean).join(' and ');
    return all({ status: 'skip', measured: `not checked: ${missing}`, fix: GITHUB_SKIP_FIX });
  }
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    return all({ status: 'fail', measured: `the repository "${repository}" is not owner/repo`, fix: 'set GITHUB_REPOSITORY=owner/repo (the GitHub repository that holds this checkout)' });
  }
  const apiUrl = (options.apiUrl ?? (ctx.env.GITHUB_API_URL || DEFAULT_GITHUB_API_URL)).replace(/\/+$/, '');
  const gh = new GitHubReader(apiUrl, token, repository, options.fetch ?? fetch, ctx.timeoutMs, ctx.log);
  const config = ctx.config;
  const pipelineEnvs = pipelineGitHubEnvironments(config);
  const branch = config.environment.branch;
  /** The environment that is the manual gate (github-actions engine, approval manual), which also gets reviewers. */
  const gate = config.pipeline.engine === 'github-actions' && config.environment.approval === 'manual' ? pipelineEnvs.deploy : undefined;

  const repoFacts = (() => {
    let p: Promise<RepositoryFacts> | undefined;
    return () => (p ??= repositoryFacts(gh, repository));
  })();
  const envFacts = (name: string) => environmentFacts(gh, repository, name);

  const results: CheckResult[] = [];

  results.push(
    await runCheck(
      base('github.repository'),
      async () => {
        const r = await repoFacts();
        return {
          status: 'pass',
          measured: `${r.fullName}: ${r.visibility}, ${planText(r)}`,
          data: { repository: r.fullName, visibility: r.visibility, owner: r.ownerLogin, ownerType: r.ownerType, plan: r.plan ?? null, ...(r.planUnknownBecause ? { planUnknownBecause: r.planUnknownBecause } : {}) },
        };
      },
      onError,
    ),
  );

  results.push(
    await runCheck(
      base('github.environments'),
      async () => {
        if (pipelineEnvs.environments.length === 0) return { status: 'skip', measured: `no GitHub environment needed: ${pipelineEnvs.why}` };
        const facts = await Promise.all(pipelineEnvs.environments.map((e) => envFacts(e.name)));
        const missing = facts.filter((f) => !f.exists).map((f) => f.name);
        const data = { environments: facts.map((f) => ({ name: f.name, exists: f.exists })) };
        if (missing.length === 0) return { status: 'pass', measured: `${facts.map((f) => f.name).join(', ')} exist (${pipelineEnvs.why})`, data };
        return {
          status: 'fail',
          measured: `missing in ${repository}: ${missing.join(', ')} (needed by ${pipelineEnvs.why})`,
          fix: `create ${missing.length === 1 ? 'it' : 'them'} as docs/github.md "Setting up the two GitHub environments" says: Settings → Environments → New environment (${missing.join(', ')}), or ${missing.map((n) => environmentSetupCommand(repository, n, branch, n === gate)).join(' && ')}`,
          data,
        };
      },
      onError,
    ),
  );

  results.push(
    await runCheck(
      base('github.reviewers'),
      async () => {
        if (config.environment.approval !== 'manual') return { status: 'skip', measured: 'environment.approval is auto: no reviewers needed' };
        if (config.pipeline.engine !== 'github-actions' || !pipelineEnvs.deploy) {
          return { status: 'skip', measured: "the codepipeline engine's approval is CodePipeline's ManualApproval action, not GitHub's required reviewers" };
        }
        const name = pipelineEnvs.deploy;
        const settings = `Settings → Environments → ${name} → Required reviewers (at least one person or team; also enable Prevent self-review)`;
        const [env, repo] = await Promise.all([envFacts(name), repoFacts()]);
        const data = { environment: name, reviewers: env.reviewers?.map((r) => r.name) ?? [], visibility: repo.visibility, plan: repo.plan ?? null };
        if (!env.exists) {
          return {
            status: 'fail',
            measured: `the approval environment ${name} does not exist: nothing holds the Deploy job`,
            fix: `create ${name} with required reviewers: ${settings}, or ${environmentSetupCommand(repository, name, branch, true)}`,
            data,
          };
        }
        const plans = 'required reviewers in a private or internal repository are enforced only on GitHub Enterprise (not Free, Pro or Team)';
        const unenforceable = repo.visibility !== 'public' && repo.tier === 'no-private-rules';
        const moveFix = `make ${repository} public, or move its owner ${repo.ownerLogin} to GitHub Enterprise`;
        if (!env.reviewers || env.reviewers.length === 0) {
          return {
            status: 'fail',
            measured: `${name} has no required_reviewers rule${env.reviewers ? ' with a reviewer' : ''}: the Deploy job runs without approval${unenforceable ? `; and on plan ${repo.plan} a ${repo.visibility} repository cannot enforce one (${plans})` : ''}`,
            fix: `${unenforceable ? `${moveFix}, then ` : ''}add reviewers: ${settings}, or ${environmentSetupCommand(repository, name, branch, true)}`,
            data,
          };
        }
        const who = `${env.reviewers.length} reviewer(s) on ${name} (${env.reviewers.map((r) => r.name).join(', ')})`;
        if (repo.visibility === 'public') return { status: 'pass', measured: `${who}; public repository: enforced on every plan`, data };
        if (repo.tier === 'enterprise') return { status: 'pass', measured: `${who}; ${repo.visibility} repository on ${repo.plan ?? 'GitHub Enterprise (internal repository)'}: enforced`, data };
        if (unenforceable) {
          return {
            status: 'fail',
            measured: `${who}, but ${repo.visibility} repository on plan ${repo.plan}: the rule is not enforced, the Approve gate passes straight through (${plans})`,
            fix: `${moveFix}; until then nobody approves the deploys of ${config.environment.name}`,
            data,
          };
        }
        return {
          status: 'warn',
          measured: `${who}; ${repo.visibility} repository, ${planText(repo)}: whether GitHub enforces the rule is unknown (${plans})`,
          fix: `run sdpipe doctor with a token that sees the plan (${repo.ownerType === 'Organization' ? `an owner of ${repo.ownerLogin} with scope admin:org, or a GitHub App with the Organization plan permission` : `${repo.ownerLogin}'s own token`}), or check the plan under Settings → Billing and plans; on Free, Pro or Team make the repository public or move to GitHub Enterprise`,
          data,
        };
      },
      onError,
    ),
  );

  // `deployment_branch_policy` null lets every branch deploy; `protected_branches: true` lets every
  // protected branch deploy; `custom_branch_policies: true` lets only the branches and tags that
  // match the listed name patterns deploy ("Create or update an environment", body parameters:
  // https://docs.github.com/en/rest/deployments/environments?apiVersion=2022-11-28#create-or-update-an-environment;
  // "Deployment branches and tags": https://docs.github.com/en/actions/reference/workflows-and-actions/deployments-and-environments#deployment-branches-and-tags).
  // Patterns are fnmatch-style, so only the exact branch name (no wildcard) and nothing else passes.
  // Removing a policy is "Delete a deployment branch policy":
  // https://docs.github.com/en/rest/deployments/branch-policies?apiVersion=2022-11-28#delete-a-deployment-branch-policy
  results.push(
    await runCheck(
      base('github.branch-policy'),
      async () => {
        if (pipelineEnvs.environments.length === 0) return { status: 'skip', measured: `no GitHub environment to restrict: ${pipelineEnvs.why}` };
        const ui = (name: string) => `Settings → Environments → ${name} → Deployment branches and tags → Selected branches and tags → add ${branch} (and nothing else)`;
        // Switching to custom policies takes the PUT, which sets the environment's protection rules as a
        // whole (assumption: omitted reviewers are not kept), so the command lists reviewers for the gate.
        const settings = (name: string) =>
          `${ui(name)}; or ${environmentSetupCommand(repository, name, branch, name === gate)}${name === gate ? ' (list every current reviewer: the PUT sets the whole rule)' : ''}`;
        const addPolicy = (name: string) =>
          `${ui(name)}; or gh api -X POST repos/${repository}/environments/${encodeURIComponent(name)}/deployment-branch-policies -f name=${branch} -f type=branch`;
        const problems: { what: string; fix: string }[] = [];
        const found: Record<string, unknown> = {};
        for (const e of pipelineEnvs.environments) {
          const env = await envFacts(e.name);
          if (!env.exists) {
            problems.push({ what: `${e.name} does not exist`, fix: `create ${e.name} as github.environments says (its command restricts the branches too)` });
            found[e.name] = null;
            continue;
          }
          if (!env.branchPolicy) {
            problems.push({ what: `${e.name}: any branch may deploy (no deployment branch policy)`, fix: settings(e.name) });
            found[e.name] = 'any branch';
            continue;
          }
          if (!env.branchPolicy.customBranchPolicies) {
            problems.push({ what: `${e.name}: any protected branch may deploy (protected branches only), not just ${branch}`, fix: settings(e.name) });
            found[e.name] = 'protected branches';
            continue;
          }
          const policies = await branchPolicies(gh, repository, e.name);
          found[e.name] = policies.map((p) => `${p.type}:${p.name}`);
          const exact = policies.some((p) => p.type === 'branch' && p.name === branch);
          const others = policies.filter((p) => !(p.type === 'branch' && p.name === branch)).map((p) => `${p.type} ${p.name}`);
          if (exact && others.length === 0) continue;
          const list = policies.length === 0 ? 'none' : policies.map((p) => `${p.type} ${p.name}`).join(', ');
          problems.push({
            what: exact ? `${e.name}: ${branch} and also ${others.join(', ')} may deploy` : `${e.name}: selected branches and tags are ${list}, not ${branch}`,
            fix: exact
              ? `remove ${others.join(', ')} under Settings → Environments → ${e.name} → Deployment branches and tags (or gh api -X DELETE repos/${repository}/environments/${encodeURIComponent(e.name)}/deployment-branch-policies/<id>, ids from GET …/deployment-branch-policies)`
              : `${addPolicy(e.name)}${others.length > 0 ? `, and remove ${others.join(', ')}` : ''}`,
          });
        }
        const names = pipelineEnvs.environments.map((e) => e.name).join(', ');
        if (problems.length === 0) return { status: 'pass', measured: `only ${branch} may deploy to ${names}`, data: { branch, policies: found } };
        return { status: 'warn', measured: problems.map((p) => p.what).join('; '), fix: problems.map((p) => p.fix).join('; '), data: { branch, policies: found } };
      },
      onError,
    ),
  );

  return results;
}
