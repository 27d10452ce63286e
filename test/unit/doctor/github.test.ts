/**
 * `sdpipe doctor`'s GitHub checks (lib/doctor/github.ts) against recorded GitHub REST API answers
 * (test/fixtures/github-api, shaped after the docs' example responses; see its README) served by a
 * local HTTP server: each check passing and failing, no token → skip, a 403 or a hidden plan → warn,
 * the headers every request sends, and the token in no output.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { parse } from 'yaml';
import { resolveEnvironment } from '../../../lib/config/resolve';
import type { ResolvedEnvironment } from '../../../lib/config/resolve';
import type { EnvironmentConfig } from '../../../lib/config/types';
import type { CheckResult, DoctorContext } from '../../../lib/doctor/check';
import { environmentSetupCommand, GITHUB_CHECK_IDS, GITHUB_SKIP_FIX, githubChecks, pipelineGitHubEnvironments } from '../../../lib/doctor/github';
import { approvalEnvironmentName, prepareEnvironmentName } from '../../../pipeline/blueprint/names';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'github-api');
const TOKEN = 'ghp_doctorTestToken0123456789abcdefABCDEF';
const REPO = 'octo-org/sdpipe';

/** A recorded answer: a fixture file (or none), a status, extra headers. */
interface Route {
  readonly file?: string;
  readonly status?: number;
  readonly headers?: Record<string, string>;
}

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** A local GitHub API stand-in: routes by path (query first, then without it); anything else is 404. */
async function serve(routes: Record<string, Route>): Promise<{ url: string; requests: Recorded[]; close: () => Promise<void> }> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const full = req.url ?? '/';
    const route = routes[full] ?? routes[full.split('?')[0]] ?? { file: 'error-not-found.json', status: 404 };
    const body = route.file ? fs.readFileSync(path.join(FIXTURES, route.file)) : Buffer.alloc(0);
    res.writeHead(route.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...route.headers });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The smallest valid environment; `prod-cn` defaults to github-actions and manual approval. */
function config(name: string, region: string, extra: Partial<EnvironmentConfig> = {}, approval?: 'manual' | 'auto'): ResolvedEnvironment {
  const partition = region.startsWith('cn-') ? 'aws-cn' : 'aws';
  return resolveEnvironment({
    environment: { name, account: '123456789012', region, branch: `env/${name}`, ...(approval ? { approval } : {}) },
    stackName: `sdoneks-${name}`,
    modelBucketArn: `arn:${partition}:s3:::models`,
    modelsRuntime: [{ name: 'sd', type: 'sdwebui', modelFilename: 'm.safetensors' }],
    ...extra,
  });
}

const PROD_CN = config('prod-cn', 'cn-northwest-1');

function context(cfg: ResolvedEnvironment, env: NodeJS.ProcessEnv, log: string[] = []): DoctorContext {
  return { config: cfg, env, today: '2026-12-02', timeoutMs: 10_000, log: (line) => log.push(line) };
}

const R = `/repos/${REPO}`;
const ENV = (name: string) => `${R}/environments/${name}`;
const POLICIES = (name: string) => `${R}/environments/${name}/deployment-branch-policies`;

/** A repository where every check passes (github-actions engine, manual approval, public). */
const HEALTHY: Record<string, Route> = {
  [R]: { file: 'repository-public.json' },
  '/orgs/octo-org': { file: 'organization-member-view.json' },
  [ENV('prod-cn')]: { file: 'environment-approval.json' },
  [ENV('prod-cn-prepare')]: { file: 'environment-prepare.json' },
  [POLICIES('prod-cn')]: { file: 'branch-policies-env.json' },
  [POLICIES('prod-cn-prepare')]: { file: 'branch-policies-prepare.json' },
};

/** Run the checks against `routes` (HEALTHY overridden); returns the results by id and the server's record. */
async function run(
  routes: Record<string, Route>,
  cfg: ResolvedEnvironment = PROD_CN,
  log: string[] = [],
): Promise<{ byId: Record<string, CheckResult>; results: CheckResult[]; requests: Recorded[] }> {
  const server = await serve({ ...HEALTHY, ...routes });
  try {
    const results = await githubChecks(context(cfg, { GITHUB_TOKEN: TOKEN, GITHUB_REPOSITORY: REPO, GITHUB_API_URL: server.url }, log));
    return { byId: Object.fromEntries(results.map((r) => [r.id, r])), results, requests: server.requests };
  } finally {
    await server.close();
  }
}

describe('githubChecks', () => {
  it('skips every check without a token or a repository, asking nothing', async () => {
    const server = await serve(HEALTHY);
    try {
      for (const env of [{ GITHUB_REPOSITORY: REPO, GITHUB_API_URL: server.url }, { GITHUB_TOKEN: TOKEN, GITHUB_API_URL: server.url }, {}]) {
        const results = await githubChecks(context(PROD_CN, env));
        expect(results.map((r) => r.id)).toEqual([...GITHUB_CHECK_IDS]);
        for (const r of results) {
          expect(r).toMatchObject({ group: 'github', status: 'skip', fix: GITHUB_SKIP_FIX });
          expect(r.measured).toMatch(/^not checked: no (token|repository)/);
        }
      }
      expect(server.requests).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('takes GH_TOKEN and the options over the environment', async () => {
    const server = await serve(HEALTHY);
    try {
      const results = await githubChecks(context(PROD_CN, { GH_TOKEN: TOKEN }), { repository: REPO, apiUrl: `${server.url}/` });
      expect(results.map((r) => r.status)).toEqual(['pass', 'pass', 'pass', 'pass']);
      expect(server.requests[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
    } finally {
      await server.close();
    }
  });

  it('fails every check on a repository that is not owner/repo', async () => {
    const results = await githubChecks(context(PROD_CN, { GITHUB_TOKEN: TOKEN, GITHUB_REPOSITORY: 'https://github.com/octo-org/sdpipe' }));
    expect(results.map((r) => r.status)).toEqual(['fail', 'fail', 'fail', 'fail']);
    expect(results[0].measured).toContain('"https://github.com/octo-org/sdpipe" is not owner/repo');
    expect(results[0].fix).toContain('GITHUB_REPOSITORY=owner/repo');
  });

  it('passes every check on a healthy repository; every request is a GET with the API headers and the token never shows', async () => {
    const log: string[] = [];
    const { results, requests } = await run({}, PROD_CN, log);
    expect(results.map((r) => [r.id, r.status])).toEqual(GITHUB_CHECK_IDS.map((id) => [id, 'pass']));
    expect(results[0].measured).toBe('octo-org/sdpipe: public, plan unknown (GET /orgs/octo-org shows no plan: only an owner of octo-org sees it)');
    expect(results[1].measured).toMatch(/^prod-cn-prepare, prod-cn exist/);
    expect(results[2].measured).toBe('2 reviewer(s) on prod-cn (octocat, release-approvers); public repository: enforced on every plan');
    expect(results[3].measured).toBe('only env/prod-cn may deploy to prod-cn-prepare, prod-cn');
    expect(requests.length).toBeGreaterThan(0);
    for (const q of requests) {
      expect(q.method).toBe('GET');
      expect(q.headers.accept).toBe('application/vnd.github+json');
      expect(q.headers['x-github-api-version']).toBe('2022-11-28');
      expect(q.headers.authorization).toBe(`Bearer ${TOKEN}`);
    }
    // Each resource is asked once, however many checks read it.
    const urls = requests.map((q) => q.url);
    expect(new Set(urls).size).toBe(urls.length);
    expect(JSON.stringify(results)).not.toContain(TOKEN);
    expect(log.join('\n')).not.toContain(TOKEN);
    expect(log).toContain(`github: GET ${R}`);
  });

  describe('github.repository', () => {
    it('fails on a repository the token cannot see (404), naming the repository and the fix', async () => {
      const { byId } = await run({ [R]: { file: 'error-not-found.json', status: 404 } });
      expect(byId['github.repository'].status).toBe('fail');
      expect(byId['github.repository'].measured).toContain(`GET ${R} answered HTTP 404: Not Found`);
      expect(byId['github.repository'].fix).toContain(`GITHUB_REPOSITORY=${REPO}`);
    });

    it('fails on a refused token (401)', async () => {
      const { results } = await run({ [R]: { file: 'error-bad-credentials.json', status: 401 } });
      expect(results[0]).toMatchObject({ status: 'fail' });
      expect(results[0].measured).toContain('HTTP 401: Bad credentials');
      expect(results[0].fix).toContain('create a new one and set GITHUB_TOKEN');
    });

    it('measures visibility and the plan an owner sees', async () => {
      const { byId } = await run({ [R]: { file: 'repository-private-org.json' }, '/orgs/octo-org': { file: 'organization-free.json' } });
      expect(byId['github.repository']).toMatchObject({ status: 'pass', measured: 'octo-org/sdpipe: private, plan free' });
      expect(byId['github.repository'].data).toMatchObject({ visibility: 'private', ownerType: 'Organization', plan: 'free' });
    });

    it('fails every check that needs the network when the API is unreachable, saying where it tried', async () => {
      const failing: typeof fetch = async () => {
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') });
      };
      const results = await githubChecks(context(PROD_CN, { GITHUB_TOKEN: TOKEN, GITHUB_REPOSITORY: REPO }), { fetch: failing });
      expect(results.map((r) => r.status)).toEqual(['fail', 'fail', 'fail', 'fail']);
      expect(results[0].measured).toContain(`GET https://api.github.com${R} failed: connect ECONNREFUSED`);
      expect(results[0].fix).toContain('reaches https://api.github.com');
    });
  });

  describe('github.environments', () => {
    it('fails when the prepare environment is missing, with the commands that create it', async () => {
      const { byId } = await run({ [ENV('prod-cn-prepare')]: { file: 'error-not-found.json', status: 404 } });
      const c = byId['github.environments'];
      expect(c.status).toBe('fail');
      expect(c.measured).toContain(`missing in ${REPO}: prod-cn-prepare`);
      expect(c.fix).toContain('Settings → Environments → New environment (prod-cn-prepare)');
      expect(c.fix).toContain(`gh api -X PUT repos/${REPO}/environments/prod-cn-prepare`);
      expect(c.fix).toContain(environmentSetupCommand(REPO, 'prod-cn-prepare', 'env/prod-cn', false));
      expect(c.data).toEqual({ environments: [{ name: 'prod-cn-prepare', exists: false }, { name: 'prod-cn', exists: true }] });
    });

    it('fails on another error than 404 with GitHub\'s message (403)', async () => {
      const { byId } = await run({ [ENV('prod-cn')]: { file: 'error-forbidden.json', status: 403 } });
      expect(byId['github.environments'].status).toBe('fail');
      expect(byId['github.environments'].measured).toContain('HTTP 403: Resource not accessible by integration');
      expect(byId['github.environments'].fix).toContain('Actions read');
    });

    it('checks only <env> for the codepipeline engine with an s3 source, and nothing with codeconnections', async () => {
      const prod = config('prod', 'us-west-2');
      const routes = { [ENV('prod')]: { file: 'environment-prod.json' }, [POLICIES('prod')]: { file: 'branch-policies-prod.json' } };
      const s3 = await run(routes, prod);
      expect(s3.byId['github.environments']).toMatchObject({ status: 'pass' });
      expect(s3.byId['github.environments'].measured).toBe("prod exist (.github/workflows/deploy.yml's codepipeline job (s3 source))");
      expect(s3.byId['github.branch-policy']).toMatchObject({ status: 'pass', measured: 'only env/prod may deploy to prod' });
      const missing = await run({}, prod);
      expect(missing.byId['github.environments'].status).toBe('fail');

      const cc = config('prod', 'us-west-2', { pipeline: { source: { type: 'codeconnections', connectionArn: 'arn:aws:codeconnections:us-west-2:123456789012:connection/x', repository: REPO } } });
      const none = await run({}, cc);
      expect(none.byId['github.environments'].status).toBe('skip');
      expect(none.byId['github.branch-policy'].status).toBe('skip');
      expect(none.requests.some((q) => q.url.includes('/environments/'))).toBe(false);
    });
  });

  describe('github.reviewers', () => {
    it('fails when the approval environment has no required_reviewers rule', async () => {
      const { byId } = await run({ [ENV('prod-cn')]: { file: 'environment-no-reviewers.json' } });
      const c = byId['github.reviewers'];
      expect(c.status).toBe('fail');
      expect(c.measured).toBe('prod-cn has no required_reviewers rule: the Deploy job runs without approval');
      expect(c.fix).toContain('Settings → Environments → prod-cn → Required reviewers');
      expect(c.fix).toContain('"reviewers":[{"type":"User"');
    });

    it('says, when the rule is missing in a private repository on Free, that adding it is not enough', async () => {
      const { byId } = await run({
        [R]: { file: 'repository-private-org.json' },
        '/orgs/octo-org': { file: 'organization-free.json' },
        [ENV('prod-cn')]: { file: 'environment-no-reviewers.json' },
      });
      const c = byId['github.reviewers'];
      expect(c.status).toBe('fail');
      expect(c.measured).toContain('on plan free a private repository cannot enforce one');
      expect(c.fix).toMatch(/^make octo-org\/sdpipe public, or move its owner octo-org to GitHub Enterprise, then add reviewers/);
    });

    it('fails when the approval environment does not exist', async () => {
      const { byId } = await run({ [ENV('prod-cn')]: { file: 'error-not-found.json', status: 404 } });
      expect(byId['github.reviewers'].status).toBe('fail');
      expect(byId['github.reviewers'].measured).toContain('prod-cn does not exist');
    });

    it.each([
      ['an organization on Free', 'repository-private-org.json', '/orgs/octo-org', 'organization-free.json', 'free'],
      ['an organization on Team', 'repository-private-org.json', '/orgs/octo-org', 'organization-team.json', 'team'],
      ['a user on Pro', 'repository-private-user.json', '/users/octocat', 'user-pro.json', 'pro'],
    ])('fails for a private repository of %s: the rule is there but not enforced', async (_what, repo, ownerPath, owner, plan) => {
      const { byId } = await run({ [R]: { file: repo }, [ownerPath]: { file: owner } });
      const c = byId['github.reviewers'];
      expect(c.status).toBe('fail');
      expect(c.measured).toContain(`private repository on plan ${plan}`);
      expect(c.measured).toContain('the Approve gate passes straight through');
      expect(c.fix).toMatch(/make .* public, or move its owner .* to GitHub Enterprise/);
    });

    it('passes for a private repository on GitHub Enterprise, an internal one, and GitHub Enterprise Server', async () => {
      const ent = await run({ [R]: { file: 'repository-private-org.json' }, '/orgs/octo-org': { file: 'organization-enterprise.json' } });
      expect(ent.byId['github.reviewers']).toMatchObject({ status: 'pass' });
      expect(ent.byId['github.reviewers'].measured).toContain('private repository on enterprise: enforced');

      const internal = await run({ [R]: { file: 'repository-internal.json' } });
      expect(internal.byId['github.reviewers'].status).toBe('pass');

      const ghes = await run({ [R]: { file: 'repository-private-org.json', headers: { 'X-GitHub-Enterprise-Version': '3.17.2' } } });
      expect(ghes.byId['github.reviewers'].status).toBe('pass');
      expect(ghes.byId['github.repository'].measured).toBe('octo-org/sdpipe: private, plan GitHub Enterprise Server 3.17.2');
      expect(ghes.requests.some((q) => q.url.startsWith('/orgs/'))).toBe(false);
    });

    it.each([
      ['a 403 for the plan', { file: 'error-forbidden.json', status: 403 }, 'GET /orgs/octo-org answered HTTP 403: Resource not accessible by integration'],
      ['a 404 for the plan', { file: 'error-not-found.json', status: 404 }, 'GET /orgs/octo-org answered HTTP 404: Not Found'],
      ['a plan hidden from a member', { file: 'organization-member-view.json' }, 'GET /orgs/octo-org shows no plan: only an owner of octo-org sees it'],
    ] as const)('warns for a private repository with %s', async (_what, orgRoute, why) => {
      const { byId } = await run({ [R]: { file: 'repository-private-org.json' }, '/orgs/octo-org': orgRoute });
      expect(byId['github.repository'].status).toBe('pass');
      const c = byId['github.reviewers'];
      expect(c.status).toBe('warn');
      expect(c.measured).toContain(`plan unknown (${why})`);
      expect(c.measured).toContain('enforced only on GitHub Enterprise');
      expect(c.fix).toContain('admin:org');
    });

    it('skips with approval auto, and for the codepipeline engine (its gate is CodePipeline\'s ManualApproval)', async () => {
      const auto = await run({ [ENV('prod-cn')]: { file: 'environment-no-reviewers.json' } }, config('prod-cn', 'cn-northwest-1', {}, 'auto'));
      expect(auto.byId['github.reviewers']).toMatchObject({ status: 'skip', measured: 'environment.approval is auto: no reviewers needed' });
      const cp = await run({}, config('prod', 'us-west-2'));
      expect(cp.byId['github.reviewers'].status).toBe('skip');
      expect(cp.byId['github.reviewers'].measured).toContain('ManualApproval');
    });
  });

  describe('github.branch-policy', () => {
    it('warns when any branch may deploy (no deployment branch policy)', async () => {
      const { byId } = await run({ [ENV('prod-cn')]: { file: 'environment-no-reviewers.json' } });
      const c = byId['github.branch-policy'];
      expect(c.status).toBe('warn');
      expect(c.measured).toBe('prod-cn: any branch may deploy (no deployment branch policy)');
      expect(c.fix).toContain('Deployment branches and tags → Selected branches and tags → add env/prod-cn');
      expect(c.fix).toContain(`gh api -X POST repos/${REPO}/environments/prod-cn/deployment-branch-policies -f name=env/prod-cn -f type=branch`);
    });

    it('warns when every protected branch may deploy', async () => {
      const { byId } = await run({ [ENV('prod-cn')]: { file: 'environment-protected-branches.json' } });
      expect(byId['github.branch-policy'].status).toBe('warn');
      expect(byId['github.branch-policy'].measured).toContain('any protected branch may deploy');
    });

    it('warns when the custom policies are wider than env/<name> or miss it', async () => {
      const { byId } = await run({ [POLICIES('prod-cn-prepare')]: { file: 'branch-policies-wide.json' } });
      const c = byId['github.branch-policy'];
      expect(c.status).toBe('warn');
      expect(c.measured).toBe('prod-cn-prepare: selected branches and tags are branch env/*, branch main, not env/prod-cn');
      expect(c.data).toEqual({ branch: 'env/prod-cn', policies: { 'prod-cn-prepare': ['branch:env/*', 'branch:main'], 'prod-cn': ['branch:env/prod-cn'] } });
      expect(c.fix).toContain(`gh api -X POST repos/${REPO}/environments/prod-cn-prepare/deployment-branch-policies -f name=env/prod-cn -f type=branch, and remove branch env/*, branch main`);
    });

    it('warns when env/<name> is there alongside another pattern', async () => {
      const server = await serve({
        ...HEALTHY,
        [POLICIES('prod-cn')]: { file: 'branch-policies-env.json' },
      });
      // Two pages: env/prod-cn, then main (total_count 2), read through `page`.
      const pages: Record<string, unknown> = {
        [`${POLICIES('prod-cn')}?per_page=100&page=1`]: { total_count: 2, branch_policies: [{ id: 1, node_id: 'a', name: 'env/prod-cn', type: 'branch' }] },
        [`${POLICIES('prod-cn')}?per_page=100&page=2`]: { total_count: 2, branch_policies: [{ id: 2, node_id: 'b', name: 'v*', type: 'tag' }] },
      };
      const fetchPaged: typeof fetch = async (input, init) => {
        const u = new URL(String(input));
        const page = pages[u.pathname + u.search];
        if (page) return new Response(JSON.stringify(page), { status: 200, headers: { 'content-type': 'application/json' } });
        return fetch(input, init);
      };
      try {
        const results = await githubChecks(context(PROD_CN, { GITHUB_TOKEN: TOKEN, GITHUB_REPOSITORY: REPO, GITHUB_API_URL: server.url }), { fetch: fetchPaged });
        const c = results.find((r) => r.id === 'github.branch-policy')!;
        expect(c.status).toBe('warn');
        expect(c.measured).toBe('prod-cn: env/prod-cn and also tag v* may deploy');
        expect(c.fix).toContain('remove tag v*');
      } finally {
        await server.close();
      }
    });
  });
});

describe('pipelineGitHubEnvironments', () => {
  it('names the environments as the pipeline code does', () => {
    const gha = pipelineGitHubEnvironments(PROD_CN);
    expect(gha.environments).toEqual([
      { name: prepareEnvironmentName('prod-cn'), role: 'prepare' },
      { name: approvalEnvironmentName('prod-cn'), role: 'deploy' },
    ]);
    expect(gha.deploy).toBe(approvalEnvironmentName('prod-cn'));
    expect(pipelineGitHubEnvironments(config('prod', 'us-west-2')).environments).toEqual([{ name: 'prod', role: 'deploy' }]);
  });

  it("matches deploy.yml: the codepipeline job (s3 source) runs in the environment named after the sdpipe environment", () => {
    const wf = parse(fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'deploy.yml'), 'utf8')) as {
      jobs: Record<string, { if?: string; environment?: string; outputs?: Record<string, string> }>;
    };
    expect(wf.jobs.codepipeline.if).toContain("needs.resolve.outputs.source == 's3'");
    expect(wf.jobs.codepipeline.environment).toBe('${{ needs.resolve.outputs.environment }}');
    expect(wf.jobs.resolve.outputs?.environment).toBe('${{ steps.env.outputs.environment }}');
  });
});
