/** cdk-nag over the dev stage (aws); the China twin is nag.cn.test.ts. */
import { nagSuite } from './nag-suite';

nagSuite('dev');
