/** The support stack of prod-cn (aws-cn): GitHub OIDC provider (audience sts.amazonaws.com.cn) and roles. */
import { describeSupportStack } from './support-stack-suite';
import { loadConfig } from './support';

describe('support stack: prod-cn (aws-cn)', () => {
  describeSupportStack(() => loadConfig('prod-cn'), { partition: 'aws-cn' });
});
