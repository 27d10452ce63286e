/** cdk-nag over the prod-cn stage (aws-cn); the twin of nag.test.ts. */
import { nagSuite } from './nag-suite';

nagSuite('prod-cn');
