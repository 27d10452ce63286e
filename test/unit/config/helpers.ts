/** Helpers for config tests: paths of the repository's fixtures and environments. */
import * as path from 'node:path';

/** Repository root. */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
/** config/environments. */
export const ENV_DIR = path.join(ROOT, 'config', 'environments');
/** test/fixtures/config. */
export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'config');
