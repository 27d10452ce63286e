/** Contract tests of environment dev (config/environments/dev.yaml): see support/contract-suite.ts. */
import { contractSuite } from './support/contract-suite';

contractSuite('dev');
