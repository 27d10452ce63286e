import fc from 'fast-check';
import {
  amiParameterName,
  amiVersionParameterName,
  checkImagesCommands,
  containerdMajor,
  credentialCommands,
  expectedContainerdMajor,
  parseImageCheck,
  pullCommands,
  shellQuote,
  stopKubeletCommands,
} from '../../../lib/snapshot/bottlerocket';
import { shellWords } from './fake-aws';
import { digestOf } from './helpers';

describe('bottlerocket commands', () => {
  it('names the public AMI parameter per Kubernetes version and architecture', () => {
    expect(amiParameterName('1.33', 'x86_64')).toBe('/aws/service/bottlerocket/aws-k8s-1.33/x86_64/latest/image_id');
    expect(amiParameterName('1.32', 'arm64')).toBe('/aws/service/bottlerocket/aws-k8s-1.32/arm64/latest/image_id');
  });

  it('quotes any password so the shell reads it back unchanged', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((s) => !s.includes('\n')), (pw) => {
        expect(shellWords(`ctr --user ${shellQuote(`AWS:${pw}`)} x`)).toEqual(['ctr', '--user', `AWS:${pw}`, 'x']);
      }),
    );
  });

  it('refuses to build a pull of a tag, and always names a platform', () => {
    const base = { name: 'a', registry: 'r.example', repository: 'a', digest: digestOf('a'), platforms: ['linux/amd64'] };
    expect(() => pullCommands({ ...base, reference: 'r.example/a:latest' }, 'linux/amd64')).toThrow(/not a digest reference/);
    const lines = pullCommands({ ...base, reference: `r.example/a@${digestOf('a')}` }, 'linux/arm64');
    expect(lines[lines.length - 1]).toBe(
      `apiclient exec admin sheltie ctr -a /run/containerd/containerd.sock -n k8s.io images pull --label io.cri-containerd.image=managed --platform linux/amd64 --user "AWS:\${SDPIPE_ECR_PASSWORD}" 'r.example/a@${digestOf('a')}' > /dev/null`,
    );
    // A single-manifest image is pulled as the host's platform, never with --all-platforms.
    const single = pullCommands({ ...base, platforms: [], reference: `r.example/a@${digestOf('a')}` }, 'linux/arm64');
    expect(single.filter((l) => l.includes('images pull')).map((l) => /--platform (\S+)/.exec(l)?.[1])).toEqual(['linux/arm64']);
    expect(single.join('\n')).not.toContain('--all-platforms');
  });

  it('asks the kubelet credential provider on the host for the password, with a JSON request the shell reads back intact', () => {
    const ref = `123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/a@${digestOf('a')}`;
    const [pipefail, assign, check] = credentialCommands(ref);
    expect(pipefail).toBe('set -o pipefail');
    const inner = /^SDPIPE_ECR_PASSWORD="\$\(apiclient exec admin sh -c '(.*)' \| jq -r '\.auth\[\]\.password'\)"$/.exec(assign)?.[1] ?? '';
    const json = /^printf %s "(.*)" \| sheltie \/usr\/libexec\/kubernetes\/kubelet\/plugins\/ecr-credential-provider$/.exec(inner)?.[1] ?? '';
    expect(JSON.parse(json.replace(/\\"/g, '"'))).toEqual({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: ref });
    expect(check).toBe('test -n "${SDPIPE_ECR_PASSWORD}"');
    expect(() => credentialCommands("r.example/a'; rm -rf /")).toThrow(/not a digest reference/);
  });

  it('stops kubelet through the admin container and prints containerd\'s version', () => {
    expect(stopKubeletCommands()).toEqual(['set -e', 'apiclient exec admin sheltie systemctl stop kubelet', 'apiclient exec admin sheltie ctr -a /run/containerd/containerd.sock version']);
    expect(containerdMajor('Client:\n  Version:  v1.7.27\n\nServer:\n  Version:  v2.0.5\n  UUID: x\n')).toBe('2');
    expect(containerdMajor('Server:\n  Version:  1.7.27\n')).toBe('1');
    expect(containerdMajor('ctr: connection refused')).toBeUndefined();
    expect(expectedContainerdMajor('1.32')).toBe('1');
    expect(expectedContainerdMajor('1.33')).toBe('2');
    expect(expectedContainerdMajor('1.34')).toBe('2');
  });

  it('checks images with ctr images check and parses its columns (sizes hold spaces)', () => {
    expect(checkImagesCommands()[1]).toBe('apiclient exec admin sheltie ctr -a /run/containerd/containerd.sock -n k8s.io images check');
    const d = digestOf('a').slice(7);
    const out = [
      'REF                      TYPE                                    DIGEST  STATUS           SIZE              UNPACKED',
      `r.example/a@sha256:${d} application/vnd.oci.image.index.v1+json sha256:${d} complete (7/7) 1.2 GiB/1.2 GiB true`,
      `r.example/b@sha256:${d} application/vnd.oci.image.index.v1+json sha256:${d} incomplete (2/7) 12.0 MiB/1.2 GiB false`,
    ].join('\n');
    expect(parseImageCheck(out)).toEqual([
      { reference: `r.example/a@sha256:${d}`, status: 'complete (7/7)', unpacked: true },
      { reference: `r.example/b@sha256:${d}`, status: 'incomplete (2/7)', unpacked: false },
    ]);
    expect(amiVersionParameterName('1.33', 'arm64')).toBe('/aws/service/bottlerocket/aws-k8s-1.33/arm64/latest/image_version');
  });
});
