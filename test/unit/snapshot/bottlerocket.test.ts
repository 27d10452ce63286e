import fc from 'fast-check';
import { amiParameterName, pullCommands, shellQuote, stopKubeletCommands } from '../../../lib/snapshot/bottlerocket';
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

  it('refuses to build a pull of a tag', () => {
    const base = { name: 'a', registry: 'r.example', repository: 'a', digest: digestOf('a'), platforms: ['linux/amd64'] };
    expect(() => pullCommands({ ...base, reference: 'r.example/a:latest' }, 'pw')).toThrow(/not a digest reference/);
    expect(pullCommands({ ...base, reference: `r.example/a@${digestOf('a')}` }, 'pw')[1]).toBe(
      `apiclient exec admin sheltie ctr -a /run/containerd/containerd.sock -n k8s.io images pull --label io.cri-containerd.image=managed --platform linux/amd64 --user 'AWS:pw' 'r.example/a@${digestOf('a')}' > /dev/null`,
    );
  });

  it('stops kubelet through the admin container', () => {
    expect(stopKubeletCommands()).toEqual(['set -e', 'apiclient exec admin sheltie systemctl stop kubelet']);
  });
});
