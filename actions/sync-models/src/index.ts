/** Entry of the sync-models action: runs {@link run}. */
import { run } from './main';

void run();
