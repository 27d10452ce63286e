/** Contract tests of environment prod-cn (config/environments/prod-cn.yaml): see support/contract-suite.ts. */
import { contractSuite } from './support/contract-suite';

contractSuite('prod-cn');
