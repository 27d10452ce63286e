/** Contract tests of environment prod (config/environments/prod.yaml): see support/contract-suite.ts. */
import { contractSuite } from './support/contract-suite';

contractSuite('prod');
